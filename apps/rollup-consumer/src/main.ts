// rollup-consumer as its own process (`npx meterline rollup-consumer`).
import { runApp } from '@meterline/runtime';
import { rollupConsumerApp } from './app';

await runApp(rollupConsumerApp);
