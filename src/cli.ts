#!/usr/bin/env -S node --
/**
 * The `runguard` executable. Every subcommand parses its flags (each also settable from the
 * environment), loads the configuration once, and hands off to the module that does the work.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { checkVariableNames, ConfigError, disagreementWarnings, loadConfigWithWarnings, settingsMarkdown, TYPO_DISTANCE, type Config, type LoadedConfig } from './config.ts'
import { createLogger, type Logger } from './log.ts'
import { version } from './version.ts'
import { DEFAULT_BODY_LIMIT } from './server/limits.ts'

// Subcommands load their modules on demand, so each long-running process keeps in memory only
// what it uses (the webhook, for one, never loads @kubernetes/client-node: test/unit/webhook-imports.test.ts).

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

function nonNegativeInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number ≥ 0')
  return n
}

function configOrExit(): Config {
  return loadedConfigOrExit().config
}

/** The configuration and its warnings (disagreeing spellings), for processes that log them. */
function loadedConfigOrExit(): LoadedConfig {
  try {
    return loadConfigWithWarnings(process.env, hostname())
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
  const { config, warnings } = loadedConfigOrExit()
  const logger = createLogger(config.logLevel, component)
  for (const warning of warnings) logger.warn(`configuration: ${warning}`)
  try {
    await start(config, logger)
  } catch (err) {
    logger.fatal({ err }, `${component} failed to start`)
    process.exit(1)
  }
}

/** A repeatable flag: every value, in the order given. */
const repeatable = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

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
  .addOption(new Option('--kubeconfig <file>', 'kubeconfig for sending Events (default: the KUBECONFIG list, then in-cluster, like controller-runtime)').env('RUNGUARD_KUBECONFIG'))
  .addOption(new Option('--body-limit <bytes>', 'largest AdmissionReview accepted').env('RUNGUARD_BODY_LIMIT').default(DEFAULT_BODY_LIMIT).argParser(positiveInt))
  .addOption(new Option('--shutdown-lame-duck-seconds <s>', 'on SIGTERM keep answering this long, closing each connection after its answer, before closing the listener').env('RUNGUARD_SHUTDOWN_LAME_DUCK_SECONDS').default(3).argParser(nonNegativeInt))
  .addOption(new Option('--tls-ip <address>', 'self-managed TLS: also put this IP address in the serving certificate (repeatable; for an API server that calls the webhook by URL)').argParser(repeatable))
  .action(async (flags: { port: number; host: string; tlsCert: string; tlsKey: string; metricsPort: number; kubeconfig?: string; bodyLimit: number; tlsIp?: string[]; shutdownLameDuckSeconds: number }) => {
    // Loaded on demand so `check`, `manifests` and `config` start without the server's modules.
    await runProcess('webhook', async (config, logger) => {
      const { closeOnSignals, startWebhookServer } = await import('./cmd/webhook.ts')
      const server = await startWebhookServer(
        { port: flags.port, host: flags.host, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey, metricsPort: flags.metricsPort, kubeconfig: flags.kubeconfig, bodyLimit: flags.bodyLimit, lameDuckMs: flags.shutdownLameDuckSeconds * 1000, ...(flags.tlsIp ? { tlsIps: flags.tlsIp } : {}) },
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
  .addOption(new Option('--kubeconfig <file>', 'kubeconfig (default: the KUBECONFIG list, then in-cluster, like controller-runtime)').env('RUNGUARD_KUBECONFIG'))
  .action(async (flags: { metricsPort: number; metricsHost: string; kubeconfig?: string }) => {
    await runProcess('reconciler', async (config, logger) => {
      const { closeOnSignals, startReconciler } = await import('./cmd/reconcile.ts')
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
  .description(
    'judge objects from files with the admission rules, offline (like `kubectl apply --dry-run=server`); exit 0 when all are allowed, 1 when any is denied, 2 on bad input or usage',
  )
  .requiredOption('-f, --filename <path>', 'file or directory of objects, YAML or JSON, multi-document ("-": stdin); repeatable', repeatable)
  .option('-R, --recursive', 'walk directories given to -f and --old recursively (their .json, .yaml, .yml files)')
  .option('--old <path>', 'stored objects the new ones replace (an UPDATE), paired by kind, namespace and name; same forms as -f; repeatable', repeatable)
  .addOption(new Option('--subresource <name>', 'judge a write to this subresource (an UPDATE: needs --old)').choices(['status']))
  .addOption(new Option('--operation <op>', 'CREATE or UPDATE (default: UPDATE for an object with an --old counterpart, else CREATE)').choices(['CREATE', 'UPDATE']))
  .option('--as <user>', 'username the write is made as, like kubectl --as (default: runguard-check)')
  .option('--as-group <group>', 'group the write is made as, like kubectl --as-group; repeatable', repeatable)
  .option('--env-file <file>', 'settings as KEY=VALUE lines (dotenv syntax) layered over the environment; repeatable, a later file wins', repeatable)
  .addOption(new Option('-o, --output <format>', 'print one JSON document instead of kubectl-like lines').choices(['json']))
  // Older spellings of --as / --as-group, kept for scripts that use them.
  .addOption(new Option('--user <name>').hideHelp())
  .addOption(new Option('--group <name...>').hideHelp())
  // A usage error (unknown flag, missing -f, bad value) is bad input: exit 2, never 1 (= denied).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .action(
    async (flags: {
      filename: string[]
      recursive?: boolean
      old?: string[]
      subresource?: 'status'
      operation?: 'CREATE' | 'UPDATE'
      as?: string
      asGroup?: string[]
      envFile?: string[]
      output?: 'json'
      user?: string
      group?: string[]
    }) => {
      const check = await import('./check.ts')
      const { WEBHOOKS } = await import('../webhooks/index.ts')
      try {
        // Variables the other commands' flags read (RUNGUARD_PORT, …) are known names in an env file.
        const flagVariables = program.commands.flatMap((command) => command.options.flatMap((option) => (option.envVar ? [option.envVar] : [])))
        const { config, notes } = check.configFromEnv(check.readEnvFiles(flags.envFile ?? []), process.env, flagVariables)
        const { newSources, oldSources } = check.readInputs({
          filenames: flags.filename,
          old: flags.old ?? [],
          recursive: flags.recursive ?? false,
          stdin: () => readFileSync(0, 'utf8'),
        })
        const report = check.checkObjects(
          {
            newObjects: check.loadObjects(newSources),
            oldObjects: check.loadObjects(oldSources),
            subResource: flags.subresource,
            operation: flags.operation,
            userInfo: check.impersonatedUser(flags.as ?? flags.user, [...(flags.asGroup ?? []), ...(flags.group ?? [])]),
          },
          WEBHOOKS,
          config,
        )
        for (const note of notes) process.stderr.write(`note: ${note}\n`)
        if (flags.output === 'json') {
          for (const line of check.formatNotes(report)) process.stderr.write(`${line}\n`)
          process.stdout.write(check.formatJson(report))
        } else {
          for (const line of check.formatHuman(report)) process[line.stream].write(`${line.text}\n`)
        }
        process.exitCode = check.exitCode(report)
      } catch (err) {
        // Bad input exits 2; so does a fault of ours, which must never read as "denied" (1).
        process.stderr.write(err instanceof check.InputError ? `error: ${err.message}\n` : `error: runguard check failed: ${(err as Error).stack ?? String(err)}\n`)
        process.exitCode = 2
      }
    },
  )

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
  .description('render the Validating/MutatingWebhookConfigurations (from webhooks/) and the status ValidatingAdmissionPolicy')
  .option('--out <dir>', 'write webhook-configurations.yaml into this folder (default: print)')
  .option('--namespace <ns>', 'namespace of the webhook Service', 'runguard-system')
  .option('--service <name>', 'name of the webhook Service', 'runguard-webhook')
  .option('--service-port <port>', 'port of the webhook Service', port, 443)
  .option('--url <base>', 'call the webhook at this base URL instead of a Service (local clusters, tests)')
  .option('--ca-bundle <file>', 'PEM CA bundle to embed as caBundle')
  .action(async (flags: { out?: string; namespace: string; service: string; servicePort: number; url?: string; caBundle?: string }) => {
    const { stringify } = await import('yaml')
    const { renderAdmission, writerIdentities } = await import('./admission/manifests.ts')
    const { EXCLUDED_NAMESPACES, WEBHOOKS } = await import('../webhooks/index.ts')
    const { loadConfig } = await import('./config.ts')
    // The identity lists come from the same settings the webhook reads (RUNGUARD_CONTROLLER_USERS, …),
    // with runguard's own ServiceAccount in --namespace.
    const config = loadConfig({ ...process.env, RUNGUARD_POD_NAMESPACE: flags.namespace })
    const docs = renderAdmission(WEBHOOKS, {
      target: {
        ...(flags.url ? { url: flags.url } : { service: { namespace: flags.namespace, name: flags.service, port: flags.servicePort } }),
        ...(flags.caBundle ? { caBundlePem: readFileSync(flags.caBundle, 'utf8') } : {}),
      },
      excludedNamespaces: [...EXCLUDED_NAMESPACES, flags.namespace],
      ...writerIdentities(config),
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
  .description('print every setting with its variable names, aliases, default and meaning (Markdown)')
  .option('--validate', 'only validate the current environment; exit 2 on a bad value or an unknown variable (see below)')
  .addHelpText(
    'after',
    `
--validate checks every value, then every variable named AGENTS_*, JANGAR_* or RUNGUARD_:
  - RUNGUARD_* or JANGAR_* that runguard does not read: error, naming the closest known name;
  - AGENTS_* that runguard does not read: a note (upstream's chart sets many that runguard
    ignores, e.g. AGENTS_GRPC_ENABLED), unless it is within ${TYPO_DISTANCE} edits of a name runguard
    reads: then an error, as a likely typo (AGENTS_CONTROLER_NAMESPACES);
  - the design notes' JANGAR_* names of upstream settings runguard does not use: a note;
  - retired misspellings older runguard read (AGENTS_AGENTS_*): error, naming the current name.
Two spellings of one setting that are both set and disagree print a warning (the primary name
wins); warnings and notes do not change the exit code. Errors go to stderr, notes to stdout.`,
  )
  .action((flags: { validate?: boolean }) => {
    if (flags.validate) {
      const errors: string[] = []
      try {
        loadConfigWithWarnings(process.env, hostname())
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        errors.push(err.message)
      }
      // Variables the flags read (RUNGUARD_PORT, …) are known too.
      const flagVariables = program.commands.flatMap((command) => command.options.flatMap((option) => (option.envVar ? [option.envVar] : [])))
      const names = checkVariableNames(process.env, flagVariables)
      errors.push(...names.errors)
      for (const note of names.notes) process.stdout.write(`note: ${note}\n`)
      for (const warning of disagreementWarnings(process.env)) process.stderr.write(`warning: ${warning}\n`)
      for (const error of errors) process.stderr.write(`runguard: ${error}\n`)
      if (errors.length > 0) {
        process.exitCode = 2
        return
      }
      process.stdout.write('configuration is valid\n')
      return
    }
    process.stdout.write(`${settingsMarkdown()}\n`)
  })

await program.parseAsync(process.argv)
