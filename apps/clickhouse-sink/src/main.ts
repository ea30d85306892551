// clickhouse-sink as its own process (`npx meterline clickhouse-sink`).
import { runApp } from '@meterline/runtime';
import { clickhouseSinkApp } from './app';

await runApp(clickhouseSinkApp);
