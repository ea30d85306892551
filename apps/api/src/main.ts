// The HTTP API as its own process (`npx meterline api`).
import { runApp } from '@meterline/runtime';
import { apiApp } from './app';

await runApp(apiApp);
