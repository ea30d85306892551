import { createLogger, fleetConfigSchema, loadConfigOrExit, startHealthServer, type FleetConfig } from '@meterline/platform';
import { ProcessContext } from './process-context';

/**
 * One deployable app: its wiring, as a function of the process it runs in. `meterline <app>`
 * and `apps/<app>/src/main.ts` run one app in its own process (`runApp`); `meterline start`
 * runs several on one shared ProcessContext. Both call the same `start`.
 */
export interface App {
  readonly name: string;
  /**
   * Port of the /livez /readyz listener when the app runs alone (METERLINE_HEALTH_PORT
   * overrides it, 0 turns it off). Absent: the app serves them on its own HTTP server.
   */
  readonly healthPort?: number;
  /** Builds the app's components on the context's shared clients, registers their stops and checks. */
  start(context: ProcessContext): Promise<void>;
}

/**
 * The composition root of a process that runs one app: configuration parsed once (every
 * problem listed, exit 1), a logger, the health listener, the app, a drain on SIGINT/SIGTERM.
 */
export async function runApp(app: App, config: FleetConfig = loadConfigOrExit(fleetConfigSchema)): Promise<ProcessContext> {
  const log = createLogger({ ...config.log, name: app.name });
  const context = new ProcessContext(config, log);
  context.lifecycle.stopOnSignals(() => {
    log.info(`${app.name} stopped`);
    process.exit(0);
  });
  try {
    const port = config.health.port ?? app.healthPort;
    if (port !== undefined && port !== 0) {
      const server = await startHealthServer(context.health, config.health.host, port, log);
      context.lifecycle.onStop('health', () => server.close());
    }
    await context.health.whileStarting(() => app.start(context));
    log.info(`${app.name} running`);
    return context;
  } catch (error) {
    log.fatal({ err: error }, `${app.name} failed to start`);
    await context.lifecycle.stop();
    process.exit(1);
  }
}
