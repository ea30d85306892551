import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from './paths';
import { freePort } from './ports';
import { spawnManaged, tailFile, waitUntilReady, withTimeout, type ManagedProcess } from './processes';

/** Apache Kafka 3.9.1, single node, KRaft (broker and controller in one JVM). */
export const KAFKA_VERSION = '3.9.1';
const KAFKA_JAR = `kafka_2.13-${KAFKA_VERSION}.jar`;
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;

export interface StartKafkaOptions {
  /** KRaft log dir (topic data and metadata). Kept on stop(); default: a fresh temp dir, deleted on stop(). */
  readonly dataDir?: string;
  /** PLAINTEXT listener port; default: a free port. */
  readonly port?: number;
  /** CONTROLLER listener port; default: a free port. */
  readonly controllerPort?: number;
  /** JVM max heap in MiB (default 768). */
  readonly heapMb?: number;
  /**
   * Where server.log, stdout.log and the generated server.properties/log4j.properties go.
   * Default: `<dataDir>-logs` beside a caller's dataDir (`.data/kafka` -> `.data/kafka-logs`);
   * `<temp root>/kafka-logs` for the default temp dir (deleted with it). Must not be shared by
   * two brokers that run at the same time.
   */
  readonly logDir?: string;
}

export interface KafkaBroker {
  /** Bootstrap list for clients: `['127.0.0.1:<port>']`. */
  readonly brokers: string[];
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  readonly logDir: string;
  /** The broker's log4j output (WARN and up, plus start/stop milestones). */
  readonly serverLog: string;
  /** pid of the current JVM (changes on restart()). */
  readonly pid: number;
  /** Whether the JVM is running. */
  readonly running: boolean;
  /** SIGTERM (controlled shutdown), SIGKILL after 20 s; deletes the data dir only if startKafka created it. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no controlled shutdown); keeps the data dir. */
  kill(): Promise<void>;
  /** Stops the JVM if it runs, starts it again on the same ports and data dir, waits until ready. */
  restart(): Promise<void>;
}

let jarsPromise: Promise<string> | undefined;

/**
 * Directory with the broker's runtime classpath (`<repo>/.cache/kafka/libs`), fetched from
 * Maven Central with `mvn dependency:copy-dependencies` when the Kafka jar is missing.
 */
export function ensureKafkaJars(): Promise<string> {
  jarsPromise ??= fetchKafkaJars().catch((error: unknown) => {
    jarsPromise = undefined;
    throw error;
  });
  return jarsPromise;
}

async function fetchKafkaJars(): Promise<string> {
  const root = repoRoot();
  const dir = join(root, '.cache', 'kafka', 'libs');
  if (existsSync(join(dir, KAFKA_JAR))) return dir;
  await mkdir(dir, { recursive: true });
  const args = [
    '-q', '-B', '-f', join(root, 'infra', 'kafka', 'pom.xml'),
    'dependency:copy-dependencies', `-DoutputDirectory=${dir}`, '-DincludeScope=runtime',
  ];
  const result = await run('mvn', args, { cwd: root, timeoutMs: 15 * 60_000 });
  if (result.error !== undefined || !existsSync(join(dir, KAFKA_JAR))) {
    const why = result.error?.code === 'ENOENT' ? 'mvn not found on PATH (install Maven, e.g. `apt-get install -y maven`)' : (result.error?.message ?? `${KAFKA_JAR} still missing`);
    throw new Error(`could not fetch the Kafka ${KAFKA_VERSION} jars into ${dir}: ${why}\n$ mvn ${args.join(' ')}\n${result.output.trimEnd()}`);
  }
  return dir;
}

interface RunResult {
  readonly output: string;
  readonly error: (Error & { code?: unknown }) | undefined;
}

function run(command: string, args: readonly string[], options: { cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        resolveRun({ output: `${stdout}${stderr}`, error: error ?? undefined });
      },
    );
  });
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding (22 characters). An id that
 * starts with '-' would be read as an option by StorageTool's argument parser (one start in
 * 64 failed that way), so, like Kafka's own Uuid.randomUuid, such ids are drawn again.
 */
export function newKafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

interface BrokerLayout {
  readonly jarDir: string;
  readonly dataDir: string;
  readonly logDir: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly heapMb: number;
  readonly serverProperties: string;
  readonly log4jProperties: string;
  readonly serverLog: string;
  readonly stdoutLog: string;
}

function serverPropertiesText(layout: BrokerLayout): string {
  const lines = [
    '# Generated by libs/testing/src/kafka-broker.ts: single-node KRaft broker for tests, npm start and benchmarks.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${layout.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${layout.port},CONTROLLER://127.0.0.1:${layout.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${layout.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `log.dirs=${propertyValue(layout.dataDir)}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    // Fewer internal partitions than the default 50: the first consumer group and the
    // first transactional producer come up in well under a second on a two-core machine.
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'group.initial.rebalance.delay.ms=0',
    // After a kill() the restarted controller keeps the dead incarnation's session alive for
    // broker.session.timeout.ms (default 9 s) and rejects the new registration until then;
    // a 3 s session makes restart-after-crash take ~6 s instead of ~15 s.
    'broker.session.timeout.ms=3000',
    'broker.heartbeat.interval.ms=750',
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=2',
  ];
  return `${lines.join('\n')}\n`;
}

function log4jPropertiesText(layout: BrokerLayout): string {
  const lines = [
    '# Generated by libs/testing/src/kafka-broker.ts: everything to server.log, nothing to stdout.',
    'log4j.rootLogger=WARN, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${propertyValue(layout.serverLog)}`,
    'log4j.appender.file.Append=true',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka=WARN',
    'log4j.logger.org.apache.kafka=WARN',
    'log4j.logger.org.apache.zookeeper=WARN',
    // Start and shutdown milestones, useful when reading a failed run.
    'log4j.logger.kafka.server.KafkaRaftServer=INFO',
    'log4j.logger.kafka.server.BrokerServer=INFO',
    'log4j.logger.kafka.server.ControllerServer=INFO',
    // Noisy at WARN when clients disconnect abruptly (which tests do on purpose).
    'log4j.logger.org.apache.kafka.common.network.Selector=ERROR',
  ];
  return `${lines.join('\n')}\n`;
}

/** Escapes a value for a java.util.Properties file. */
function propertyValue(value: string): string {
  return value.replace(/\\/g, '\\\\');
}

function diagnostics(layout: BrokerLayout): string {
  const parts: string[] = [];
  const server = tailFile(layout.serverLog, 6_000).trimEnd();
  if (server !== '') parts.push(`${layout.serverLog}:\n${server}`);
  const stdout = tailFile(layout.stdoutLog, 4_000).trimEnd();
  if (stdout !== '') parts.push(`${layout.stdoutLog}:\n${stdout}`);
  return parts.join('\n');
}

async function formatStorageIfNeeded(layout: BrokerLayout): Promise<void> {
  if (existsSync(join(layout.dataDir, 'meta.properties'))) return;
  const args = [
    `-Dlog4j.configuration=file:${layout.log4jProperties}`,
    '-cp', join(layout.jarDir, '*'),
    'kafka.tools.StorageTool', 'format', '-t', newKafkaClusterId(), '-c', layout.serverProperties,
  ];
  const result = await run('java', args, { timeoutMs: 120_000 });
  if (result.error !== undefined) {
    const why = result.error.code === 'ENOENT' ? 'java not found on PATH (install a JDK 17+, e.g. `apt-get install -y openjdk-17-jre-headless`)' : result.error.message;
    throw new Error(`kafka: formatting ${layout.dataDir} failed: ${why}\n${result.output.trimEnd()}`);
  }
}

function tcpConnects(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolveConnect(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function kafkaAnswers(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'meterline-harness-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  const ask = async (): Promise<boolean> => {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  };
  try {
    // Something that accepts TCP but never answers (not a Kafka broker) must not hang us.
    return await withTimeout(ask(), 8_000, false);
  } finally {
    await withTimeout(admin.disconnect().catch(() => undefined), 2_000, undefined);
  }
}

async function launch(layout: BrokerLayout): Promise<ManagedProcess> {
  await formatStorageIfNeeded(layout);
  const args = [
    '-Xms256m', `-Xmx${layout.heapMb}m`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${layout.log4jProperties}`,
    `-Dkafka.logs.dir=${layout.logDir}`,
    '-cp', join(layout.jarDir, '*'),
    'kafka.Kafka', layout.serverProperties,
  ];
  const child = await spawnManaged('java', args, { name: 'kafka', cwd: layout.logDir, outputFile: layout.stdoutLog });
  const brokers = [`127.0.0.1:${layout.port}`];
  try {
    await waitUntilReady(
      child,
      async () => (await tcpConnects(layout.port, 1_000)) && (await kafkaAnswers(brokers)),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 250, diagnostics: () => diagnostics(layout) },
    );
  } catch (error) {
    await child.kill();
    throw error;
  }
  return child;
}

/**
 * Starts a single-node KRaft broker (Kafka 3.9.1) and resolves once it answers
 * `describeCluster()`. The JVM is killed if this process dies (see processes.ts).
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const jarDir = await ensureKafkaJars();
  let ownedRoot: string | undefined;
  let dataDir: string;
  if (options.dataDir === undefined) {
    ownedRoot = await mkdtemp(join(tmpdir(), 'meterline-kafka-'));
    dataDir = join(ownedRoot, 'data');
  } else {
    dataDir = resolve(options.dataDir);
  }
  // Owned: <tmp>/meterline-kafka-*/{data,kafka-logs}. Caller's dir: a sibling named after it
  // (`.data/kafka` -> `.data/kafka-logs`), never a shared `<parent>/kafka-logs` that two
  // brokers with data dirs in the same parent (e.g. both in /tmp) would overwrite.
  const logDir = resolve(options.logDir ?? (ownedRoot !== undefined ? join(ownedRoot, 'kafka-logs') : `${dataDir}-logs`));
  const port = options.port ?? (await freePort());
  let controllerPort = options.controllerPort ?? (await freePort());
  while (controllerPort === port) controllerPort = await freePort();

  const layout: BrokerLayout = {
    jarDir,
    dataDir,
    logDir,
    port,
    controllerPort,
    heapMb: options.heapMb ?? 768,
    serverProperties: join(logDir, 'server.properties'),
    log4jProperties: join(logDir, 'log4j.properties'),
    serverLog: join(logDir, 'server.log'),
    stdoutLog: join(logDir, 'stdout.log'),
  };

  let child: ManagedProcess;
  try {
    await mkdir(dataDir, { recursive: true });
    await mkdir(logDir, { recursive: true });
    await writeFile(layout.serverProperties, serverPropertiesText(layout));
    await writeFile(layout.log4jProperties, log4jPropertiesText(layout));
    child = await launch(layout);
  } catch (error) {
    if (ownedRoot !== undefined) await rm(ownedRoot, { recursive: true, force: true });
    throw error;
  }

  let deleted = false;
  const brokers = [`127.0.0.1:${port}`];
  return {
    brokers,
    port,
    controllerPort,
    dataDir,
    logDir,
    serverLog: layout.serverLog,
    get pid() {
      return child.pid;
    },
    get running() {
      return child.isRunning();
    },
    async stop() {
      await child.stop(STOP_GRACE_MS);
      if (ownedRoot !== undefined && !deleted) {
        deleted = true;
        await rm(ownedRoot, { recursive: true, force: true });
      }
    },
    async kill() {
      await child.kill();
    },
    async restart() {
      if (deleted) {
        throw new Error(
          `kafka: cannot restart, stop() deleted the temporary data dir ${dataDir}; pass startKafka({ dataDir }) to keep data across stop() and restart(), or use kill()`,
        );
      }
      await child.stop(STOP_GRACE_MS);
      child = await launch(layout);
    },
  };
}
