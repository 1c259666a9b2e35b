import { runMain } from '@product-store/kit';
import { userService } from './service';

runMain(userService);
