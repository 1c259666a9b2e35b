import { runMain } from '@product-store/kit';
import { orderService } from './service';

runMain(orderService);
