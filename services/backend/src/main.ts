import { runMain } from '@product-store/kit';
import { backend } from './service';

runMain(backend);
