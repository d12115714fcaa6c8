#!/usr/bin/env node
/**
 * The `runguard` executable. Every subcommand parses its flags (each also settable from the
 * environment), loads the configuration once, and hands off to the module that does the work.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { ConfigError, loadConfig, settingsMarkdown, type Config } from './config.ts'
import { createLogger, type Logger } from './log.ts'
import { version } from './version.ts'

// Subcommands load their modules on demand: the long-running processes keep only what they use
// in memory (the yaml parser, for one, is needed by `check` and `manifests` alone).

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0–65535)')
  return n
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer')
  return n
}

function configOrExit(): Config {
  try {
    return loadConfig(process.env, hostname())
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`runguard: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}

/** Starts a long-running process; a start-up failure is logged once and exits 1. */
async function runProcess(component: 'webhook' | 'reconciler', start: (config: Config, logger: Logger) => Promise<void>): Promise<void> {
  const config = configOrExit()
  const logger = createLogger(config.logLevel, component)
  try {
    await start(config, logger)
  } catch (err) {
    logger.fatal({ err }, `${component} failed to start`)
    process.exit(1)
  }
}

const program = new Command()
  .name('runguard')
  .description('Admission webhooks and reconciler for proompteng Agents run objects (AgentRun, OrchestrationRun, ToolRun).')
  .version(version())
  .showHelpAfterError()

program
  .command('webhook')
  .description('serve the validating and mutating admission webhooks over HTTPS')
  .addOption(new Option('--port <port>', 'HTTPS port').env('RUNGUARD_PORT').default(8443).argParser(port))
  .addOption(new Option('--host <address>', 'address to listen on').env('RUNGUARD_HOST').default('0.0.0.0'))
  .addOption(new Option('--tls-cert <file>', 'serving certificate (PEM); reloaded when it changes').env('RUNGUARD_TLS_CERT').makeOptionMandatory())
  .addOption(new Option('--tls-key <file>', 'serving private key (PEM); reloaded when it changes').env('RUNGUARD_TLS_KEY').makeOptionMandatory())
  .addOption(new Option('--metrics-port <port>', 'plain-HTTP port for /metrics, /livez, /readyz').env('RUNGUARD_METRICS_PORT').default(9090).argParser(port))
  .addOption(new Option('--kubeconfig <file>', 'kubeconfig for sending Events (default: in-cluster, then KUBECONFIG)').env('RUNGUARD_KUBECONFIG'))
  .addOption(new Option('--body-limit <bytes>', 'largest AdmissionReview accepted').env('RUNGUARD_BODY_LIMIT').default(16 * 1024 * 1024).argParser(positiveInt))
  .action(async (flags: { port: number; host: string; tlsCert: string; tlsKey: string; metricsPort: number; kubeconfig?: string; bodyLimit: number }) => {
    // Loaded on demand so `check`, `manifests` and `config` start without the server's modules.
    await runProcess('webhook', async (config, logger) => {
      const { closeOnSignals, startWebhookServer } = await import('./server/main.ts')
      const server = await startWebhookServer(
        { port: flags.port, host: flags.host, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey, metricsPort: flags.metricsPort, kubeconfig: flags.kubeconfig, bodyLimit: flags.bodyLimit },
        config,
        logger,
      )
      closeOnSignals(server, logger)
    })
  })

program
  .command('reconcile')
  .description('run the sidecar reconciler: cancel propagation, Job TTL release, JobMissing, retention (one active replica via a Lease)')
  .addOption(new Option('--metrics-port <port>', 'plain-HTTP port for /metrics, /livez, /readyz').env('RUNGUARD_RECONCILER_METRICS_PORT').default(9091).argParser(port))
  .addOption(new Option('--metrics-host <address>', 'address the metrics port listens on').env('RUNGUARD_RECONCILER_METRICS_HOST').default('0.0.0.0'))
  .addOption(new Option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then KUBECONFIG)').env('RUNGUARD_KUBECONFIG'))
  .action(async (flags: { metricsPort: number; metricsHost: string; kubeconfig?: string }) => {
    await runProcess('reconciler', async (config, logger) => {
      const { closeOnSignals, startReconciler } = await import('./reconciler/main.ts')
      const reconciler = await startReconciler(
        { metricsPort: flags.metricsPort, metricsHost: flags.metricsHost, kubeconfig: flags.kubeconfig, onFatal: () => process.exit(1) },
        config,
        logger,
      )
      closeOnSignals(reconciler, logger)
    })
  })

program
  .command('check')
  .description('run the admission rules offline on objects from files; exit 1 when denied, 0 when allowed, 2 on bad input')
  .requiredOption('-f, --filename <file>', 'the new object(s), YAML or JSON ("-" for stdin)')
  .option('--old <file>', 'the stored object(s) an UPDATE replaces')
  .addOption(new Option('--subresource <name>', 'check a write to this subresource').choices(['status']))
  .addOption(new Option('--operation <op>', 'CREATE or UPDATE (default: UPDATE when --old is given)').choices(['CREATE', 'UPDATE']))
  .option('--user <name>', 'the requesting user (matters for break-glass)', 'runguard-check')
  .option('--group <name...>', 'the requesting user\'s groups', [])
  .action(async (flags: { filename: string; old?: string; subresource?: 'status'; operation?: 'CREATE' | 'UPDATE'; user: string; group: string[] }) => {
    const config = configOrExit()
    const { checkObjects, InputError, parseObjects } = await import('./check.ts')
    const { WEBHOOKS } = await import('../webhooks/index.ts')
    try {
      const read = (file: string) => (file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8'))
      const newObjects = parseObjects(read(flags.filename), flags.filename)
      const oldObjects = flags.old ? parseObjects(read(flags.old), flags.old) : []
      const results = checkObjects(
        { newObjects, oldObjects, subResource: flags.subresource, operation: flags.operation, username: flags.user, groups: flags.group },
        WEBHOOKS,
        config,
      )
      for (const result of results) for (const line of result.lines) (result.allowed ? process.stdout : process.stderr).write(`${line}\n`)
      process.exitCode = results.every((r) => r.allowed) ? 0 : 1
    } catch (err) {
      const message = err instanceof InputError ? err.message : `cannot read input: ${(err as Error).message}`
      process.stderr.write(`runguard check: ${message}\n`)
      process.exitCode = 2
    }
  })

program
  .command('certs')
  .description('make a CA and a serving certificate for local use and tests (private keys stay on this machine)')
  .requiredOption('--out <dir>', 'folder to write ca.crt, tls.crt and tls.key into')
  .option('--dns <name...>', 'DNS names for the serving certificate', ['localhost'])
  .option('--ip <address...>', 'IP addresses for the serving certificate', ['127.0.0.1'])
  .option('--days <n>', 'validity of the serving certificate', positiveInt, 365)
  .action(async (flags: { out: string; dns: string[]; ip: string[]; days: number }) => {
    const { writeCertificateBundle } = await import('./certs/write.ts')
    const written = await writeCertificateBundle(flags.out, { dnsNames: flags.dns, ipAddresses: flags.ip, days: flags.days })
    process.stdout.write(`${JSON.stringify(written, null, 2)}\n`)
  })

program
  .command('manifests')
  .description('render the Validating/MutatingWebhookConfiguration manifests from webhooks/')
  .option('--out <dir>', 'write webhook-configurations.yaml into this folder (default: print)')
  .option('--namespace <ns>', 'namespace of the webhook Service', 'runguard-system')
  .option('--service <name>', 'name of the webhook Service', 'runguard-webhook')
  .option('--service-port <port>', 'port of the webhook Service', port, 443)
  .option('--url <base>', 'call the webhook at this base URL instead of a Service (local clusters, tests)')
  .option('--ca-bundle <file>', 'PEM CA bundle to embed as caBundle')
  .action(async (flags: { out?: string; namespace: string; service: string; servicePort: number; url?: string; caBundle?: string }) => {
    const { stringify } = await import('yaml')
    const { renderWebhookConfigurations } = await import('./admission/manifests.ts')
    const { EXCLUDED_NAMESPACES, WEBHOOKS } = await import('../webhooks/index.ts')
    const docs = renderWebhookConfigurations(WEBHOOKS, {
      target: {
        ...(flags.url ? { url: flags.url } : { service: { namespace: flags.namespace, name: flags.service, port: flags.servicePort } }),
        ...(flags.caBundle ? { caBundlePem: readFileSync(flags.caBundle, 'utf8') } : {}),
      },
      excludedNamespaces: [...EXCLUDED_NAMESPACES, flags.namespace],
    })
    const header = '# Generated by `npm run manifests` from webhooks/ — do not edit by hand.\n'
    const text = header + docs.map((d) => stringify(d)).join('---\n')
    if (!flags.out) {
      process.stdout.write(text)
      return
    }
    mkdirSync(flags.out, { recursive: true })
    writeFileSync(join(flags.out, 'webhook-configurations.yaml'), text)
  })

program
  .command('config')
  .description('print every setting with its variable names, default and meaning (Markdown)')
  .option('--validate', 'only validate the current environment; exit 2 on a bad value')
  .action((flags: { validate?: boolean }) => {
    if (flags.validate) {
      configOrExit()
      process.stdout.write('configuration is valid\n')
      return
    }
    process.stdout.write(`${settingsMarkdown()}\n`)
  })

await program.parseAsync(process.argv)
