import { runMain } from '@product-store/kit';
import { cartService } from './service';

runMain(cartService);
