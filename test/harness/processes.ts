/**
 * Child processes for the control-plane harness: each one detached into its own process group
 * with stdout/stderr appended to a log file, stopped by signalling the whole group.
 *
 * Three layers make sure nothing outlives the test run:
 * 1. `stop()` — SIGTERM to the group, SIGKILL after a grace period;
 * 2. process `exit` and SIGINT/SIGTERM/SIGHUP handlers — synchronous SIGKILL of every live group;
 * 3. a watchdog shell (its own group) that polls the Node process and kills the recorded groups
 *    once it is gone — the only layer that survives a SIGKILL of the test process (a tap timeout).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, closeSync, openSync, readFileSync, rmSync } from 'node:fs'

export interface ProcessSpec {
  name: string
  command: string
  args: string[]
  logPath: string
  env?: NodeJS.ProcessEnv
}

export class ManagedProcess {
  readonly spec: ProcessSpec
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>
  exitStatus: number | string | undefined

  constructor(spec: ProcessSpec) {
    this.spec = spec
    const log = openSync(spec.logPath, 'a')
    try {
      appendFileSync(log, `\n=== ${new Date().toISOString()} ${spec.command} ${spec.args.join(' ')}\n`)
      this.child = spawn(spec.command, spec.args, {
        detached: true, // setsid(): the child leads a new process group we can signal as a whole
        stdio: ['ignore', log, log],
        env: spec.env ?? process.env,
      })
    } finally {
      closeSync(log)
    }
    if (this.child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`)
    this.pid = this.child.pid
    // Never keep the event loop alive for a child: a test that forgets stop() still ends, and the
    // exit handler below then kills the group.
    this.child.unref()
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = code ?? signal ?? 'unknown'
        resolve(this.exitStatus)
      })
      this.child.once('error', (error) => {
        this.exitStatus = `spawn error: ${error.message}`
        resolve(this.exitStatus)
      })
    })
  }

  get running(): boolean {
    return this.exitStatus === undefined
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs` (0: SIGKILL at once); resolves once the leader exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.running) {
      this.child.ref() // keep the event loop alive until the exit is seen
      signalGroup(this.pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL')
      const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), graceMs)
      await this.exited
      clearTimeout(timer)
    }
    // Anything the leader left behind in its group.
    signalGroup(this.pid, 'SIGKILL')
    live.delete(this)
  }

  killSync(): void {
    signalGroup(this.pid, 'SIGKILL')
  }

  /** The last `lines` lines of this process's log. */
  logTail(lines = 40): string {
    return tail(this.spec.logPath, lines)
  }
}

/** Every started process not yet stopped, across all control planes in this Node process. */
const live = new Set<ManagedProcess>()
/** Directories to remove when the process exits abruptly. */
const cleanupDirs = new Set<string>()
let handlersInstalled = false
let signalHandlersWanted = true

export interface StartOptions {
  /** Also install SIGINT/SIGTERM/SIGHUP handlers (default true). */
  handleSignals?: boolean
}

export function startProcess(spec: ProcessSpec, options: StartOptions = {}): ManagedProcess {
  if (options.handleSignals === false) signalHandlersWanted = false
  installExitHandlers()
  const managed = new ManagedProcess(spec)
  live.add(managed)
  return managed
}

export function registerCleanupDir(dir: string): void {
  cleanupDirs.add(dir)
}

export function unregisterCleanupDir(dir: string): void {
  cleanupDirs.delete(dir)
}

/** PIDs of the processes started here that have not exited yet. */
export function livePids(): number[] {
  return [...live].filter((p) => p.running).map((p) => p.pid)
}

function killAllSync(): void {
  for (const managed of live) managed.killSync()
  live.clear()
  for (const dir of cleanupDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 2 })
  cleanupDirs.clear()
}

function installExitHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', killAllSync)
  if (!signalHandlersWanted) return
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  const onSignal = (signal: NodeJS.Signals): void => {
    killAllSync()
    for (const s of signals) process.removeListener(s, onSignal)
    // Re-raise so the default action (or another library's handler, e.g. tap's signal-exit, which
    // stays passive while a foreign listener is installed) ends the process as it would have.
    process.kill(process.pid, signal)
  }
  for (const s of signals) process.on(s, onSignal)
}

/** Signals a whole process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** True when no process of the group is left (zombies of our own children aside). */
export function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

const WATCHDOG = `
parent="$1"; pgids="$2"; dir="$3"; keep="$4"
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
[ -f "$pgids" ] && for g in $(cat "$pgids"); do kill -TERM -- "-$g" 2>/dev/null; done
sleep 2
[ -f "$pgids" ] && for g in $(cat "$pgids"); do kill -KILL -- "-$g" 2>/dev/null; done
[ "$keep" = 1 ] || rm -rf "$dir"
`

/**
 * Starts the watchdog: a detached bash that waits for this Node process to disappear, then kills
 * every process group listed in `pgidFile` and (unless `keep`) removes `dir`.
 */
export function startWatchdog(pgidFile: string, dir: string, keep: boolean): ChildProcess {
  const child = spawn('bash', ['-c', WATCHDOG, 'runguard-controlplane-watchdog', String(process.pid), pgidFile, dir, keep ? '1' : '0'], {
    detached: true,
    stdio: 'ignore',
  })
  child.unref()
  return child
}

/** Records a process group for the watchdog. */
export function recordGroup(pgidFile: string, pgid: number): void {
  appendFileSync(pgidFile, `${pgid}\n`)
}

export async function stopWatchdog(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.ref()
  signalGroup(child.pid, 'SIGKILL')
  await exited
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return `(no log at ${path})`
  }
}
