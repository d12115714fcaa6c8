/**
 * A real Kubernetes node (or two) for the tests and the sandbox: containerd + runc + the CNI bridge
 * plugin + kubelet on this machine, with kube-scheduler and kube-proxy, beside the control plane of
 * controlplane.ts. Pods run for real from images built here (test/node/build-images.sh); nothing
 * is pulled from a registry.
 *
 *   const cluster = await startNodeCluster({ nodes: 2 })
 *   try { await cluster.cp.kubectl(['get', 'nodes']) } finally { await cluster.stop() }
 *
 * Layout: the whole cluster -- etcd, API server, controllers, scheduler, kube-proxy, containerd,
 * kubelets and the pods -- lives in a network namespace of its own (`rgn-<k>`), joined to the
 * host by one veth pair (host end 10.251.<k>.1, nodes .2 and .3 on /29). The test process reaches
 * the API server at 10.251.<k>.2; the namespace has no default route, so nothing in it reaches
 * beyond this machine. kube-proxy's and the kubelets' iptables rules, the CNI bridges and the pod
 * addresses (10.244.<node>.0/24) are private to it and vanish with it.
 *
 * Identities are real: each kubelet is `system:node:<name>` (group system:nodes, client
 * certificate signed by the cluster CA, checked by the Node authorizer and NodeRestriction),
 * serves with a certificate for its InternalIP signed by the same CA (the API server verifies it:
 * --kubelet-certificate-authority), authenticates the API server's own client certificate
 * (kube-apiserver-kubelet-client, bound to system:kubelet-api-admin) and authorizes everything
 * else through SubjectAccessReviews. kube-proxy is system:kube-proxy, the scheduler
 * system:kube-scheduler, both with the bootstrap RBAC roles.
 *
 * Clean-up (test/node/cleanup.sh, from the state file /run/runguard-node/<netns>.env): on stop(),
 * from a watchdog when the test process dies, and at the next start for any cluster whose owner
 * is gone -- processes, containers and shims, mounts, the network namespace, cgroups, the host
 * sysctls the kubelet changes, the work directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type IssuedCertificate } from '../../src/certs/generate.ts'
import { issueClientCertificate } from '../helpers/certs.ts'
import { controlPlaneBinDir, DEFAULT_CONTROLLERS, startControlPlane, waitFor, type ControlPlane, type ControlPlaneOptions } from './controlplane.ts'
import { recordGroup, startProcess, type ManagedProcess } from './processes.ts'

const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
const NODE_SCRIPTS = join(REPO_ROOT, 'test', 'node')
export const INSTALL_SCRIPT = join(NODE_SCRIPTS, 'install-deps.sh')
const CLEANUP_SCRIPT = join(NODE_SCRIPTS, 'cleanup.sh')
const IMAGES_SCRIPT = join(NODE_SCRIPTS, 'build-images.sh')
/** State files of live clusters (tmpfs: a reboot forgets them, as it forgets what they describe). */
export const REGISTRY = '/run/runguard-node'
const CNI_BIN_DIR = '/usr/lib/cni'
/** The API server's --service-cluster-ip-range (controlplane.ts). */
const SERVICE_CIDR = '10.0.0.0/24'

/** Controllers a cluster with nodes needs on top of DEFAULT_CONTROLLERS. */
export const NODE_CONTROLLERS = [
  // Removes the node.kubernetes.io/not-ready taint once a kubelet reports Ready.
  'node-lifecycle-controller',
  'deployment-controller',
  'replicaset-controller',
  // Services: kube-proxy programs EndpointSlices; Endpoints for kubectl's sake.
  'endpointslice-controller',
  'endpoints-controller',
  // PodDisruptionBudget status (disruptionsAllowed), which the eviction API decides on.
  'disruption-controller',
  // Deletes pods bound to nodes that no longer exist and terminated pods past the threshold.
  'pod-garbage-collector-controller',
] as const

/** The kernel settings the kubelet changes host-wide (pkg/kubelet/cm setupKernelTunables). */
const KUBELET_SYSCTLS = ['vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops', 'kernel.keys.root_maxkeys', 'kernel.keys.root_maxbytes']

export interface NodeClusterOptions {
  /** How many nodes (kubelet + containerd each); default 1, at most 2. */
  nodes?: number
  /** Work directory (created); default a new one under the system temp dir. */
  workDir?: string
  /** Keep the work directory (logs) after stop(); default false. */
  keepWorkDir?: boolean
  /** Install SIGINT/SIGTERM/SIGHUP handlers that kill the processes (default true). */
  handleSignals?: boolean
  /** Progress lines; default silent. */
  log?: (message: string) => void
  /** Extra control-plane options (apiServerArgs, controllerManagerArgs...). */
  controlPlane?: Pick<ControlPlaneOptions, 'apiServerArgs' | 'controllerManagerArgs' | 'startTimeoutMs'>
  /** Import the runguard image into every node (default true). */
  runguardImage?: boolean
  /** How long to wait for another node cluster on this machine to stop; default 15 min. */
  lockTimeoutMs?: number
}

export interface ImageBuild {
  dir: string
  runguard: { archive: string; name: string; tag: string; manifestDigest: string; compressedBytes: number; unpackedBytes: number; nodeVersion: string }
  pause: { archive: string; name: string; tag: string }
  buildSeconds: number
}

export interface TestNode {
  name: string
  /** The node's InternalIP (in the cluster's network namespace). */
  ip: string
  dir: string
  containerdSocket: string
  /** kubelet --root-dir */
  rootDir: string
  /** Where the kubelet writes container logs (podLogsDir). */
  podLogsDir: string
  /** The kubelet's cgroup root (pods live in <root>/kubepods/...). */
  cgroupRoot: string
  kubelet: ManagedProcess
  containerd: ManagedProcess
  /** Milliseconds from the kubelet's start to the Node being Ready. */
  readyAfterMs: number
}

export interface NodeCluster {
  cp: ControlPlane
  nodes: TestNode[]
  /** `rgn-<k>`; `/run/netns/<name>` is its path. */
  netns: string
  netnsPath: string
  /** The CA that signs every identity in the cluster. */
  ca: CertificateAuthority
  images: ImageBuild
  dir: string
  /** `ctr --address <node's containerd> -n k8s.io ...` */
  ctr(node: TestNode, args: string[], options?: { allowFailure?: boolean }): Promise<ExecResult>
  /** Runs a command inside the cluster's network namespace (e.g. curl a pod IP). */
  inNetns(command: string, args: string[], options?: ExecOptions): Promise<ExecResult>
  /**
   * Host PID of a container's main process, from its pod's `containerID` (`containerd://<id>`),
   * via the node's containerd.
   */
  containerPid(containerId: string): Promise<number>
  /** The node a pod runs on (by spec.nodeName). */
  nodeOf(nodeName: string): TestNode
  stop(): Promise<void>
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  allowFailure?: boolean
  input?: string
  timeoutMs?: number
}

/** Why a node cannot start here (not root, a package missing), or undefined when it can. */
export function nodePreflight(): string | undefined {
  if (process.platform !== 'linux') return 'a test node needs Linux'
  if (process.getuid?.() !== 0) return 'a test node needs root (containerd, kubelet, network namespaces)'
  const needed: Array<[string, string]> = [
    ['/usr/bin/containerd', 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    ['/usr/bin/ctr', 'containerd (ctr)'],
    [join(CNI_BIN_DIR, 'bridge'), 'containernetworking-plugins'],
    ['/usr/bin/umoci', 'umoci'],
    ['/usr/bin/nsenter', 'util-linux (nsenter)'],
  ]
  const missing = needed.filter(([path]) => !existsSync(path) && !onPath(path.split('/').pop() ?? '')).map(([, p]) => p)
  if (!onPath('iptables')) missing.push('iptables')
  if (!onPath('ip')) missing.push('iproute2')
  if (missing.length > 0) return `missing ${missing.join(', ')}: run test/node/install-deps.sh (as root)`
  return undefined
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => dir !== '' && existsSync(join(dir, command)))
}

/**
 * Builds (once per input hash) the runguard and pause images; see test/node/build-images.sh.
 * RUNGUARD_IMAGE_DIR=<folder printed by build-images.sh> uses images built elsewhere instead (e.g.
 * from a patched checkout, to try a change on the node tests before it lands).
 */
export async function buildImages(): Promise<ImageBuild> {
  const dir = process.env.RUNGUARD_IMAGE_DIR ?? (await exec('bash', [IMAGES_SCRIPT], { timeoutMs: 20 * 60_000, inheritStderr: true })).stdout.trim().split('\n').pop() ?? ''
  const info = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as Omit<ImageBuild, 'dir'>
  return {
    dir,
    ...info,
    runguard: { ...info.runguard, archive: join(dir, info.runguard.archive) },
    pause: { ...info.pause, archive: join(dir, info.pause.archive) },
  }
}

/** Runs cleanup.sh for every registered cluster whose owning process is gone. */
export async function cleanStaleNodeClusters(log: (m: string) => void = () => {}): Promise<number> {
  if (!existsSync(REGISTRY)) return 0
  let cleaned = 0
  for (const file of readdirSync(REGISTRY).filter((f) => f.endsWith('.env'))) {
    const path = join(REGISTRY, file)
    const owner = Number(/^OWNER_PID=(\d+)$/m.exec(readFileSync(path, 'utf8'))?.[1] ?? 0)
    if (owner > 0 && processAlive(owner)) continue
    log(`node: cleaning up ${file} left by process ${owner}`)
    await exec('bash', [CLEANUP_SCRIPT, path], { allowFailure: true, timeoutMs: 120_000 })
    cleaned++
  }
  return cleaned
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function startNodeCluster(options: NodeClusterOptions = {}): Promise<NodeCluster> {
  const log = options.log ?? (() => {})
  const nodeCount = options.nodes ?? 1
  if (nodeCount < 1 || nodeCount > 2) throw new Error('1 or 2 nodes')
  const problem = nodePreflight()
  if (problem !== undefined) throw new Error(`cannot start a test node: ${problem}`)
  const startedAt = Date.now()
  const since = (): string => `${((Date.now() - startedAt) / 1000).toFixed(1)} s`

  const [binDir, images] = await Promise.all([controlPlaneBinDir({ node: true }), buildImages()])
  log(`node: binaries and images ready after ${since()} (${images.dir})`)
  // One node cluster at a time on this machine: they would only fight over 2 cores and make each
  // other's timings meaningless. Held until stop(); released by the kernel if this process dies.
  mkdirSync(REGISTRY, { recursive: true })
  const lock = await hostLock(join(REGISTRY, '.lock'), options.lockTimeoutMs ?? 15 * 60_000)
  log(`node: host lock taken after ${since()}`)
  try {
    await cleanStaleNodeClusters(log)
  } catch (error) {
    lock.release()
    throw error
  }
  const k = await pickNetworkIndex()
  const netns = `rgn-${k}`
  const netnsPath = `/run/netns/${netns}`
  const veth = `rgh-${k}`
  const hostIp = `10.251.${k}.1`
  const nodeNames = ['node-a', 'node-b'].slice(0, nodeCount)
  const nodeIps = nodeNames.map((_, i) => `10.251.${k}.${i + 2}`)
  const apiHost = nodeIps[0] ?? ''
  const cgroupRoots = nodeNames.map((n) => `runguard-${k}-${n}`)
  const dir = resolve(options.workDir ?? (await mkdtemp(join(tmpdir(), 'runguard-node-'))))
  await mkdir(dir, { recursive: true })
  const keep = options.keepWorkDir === true
  const stateFile = join(REGISTRY, `${netns}.env`)
  writeFileSync(
    stateFile,
    [`DIR=${dir}`, `NETNS=${netns}`, `VETH=${veth}`, `CGROUP_ROOTS="${cgroupRoots.join(' ')}"`, `CNI_NETWORKS="${nodeNames.map((n) => `${netns}-${n}`).join(' ')}"`, `KEEP=${keep ? 1 : 0}`, `OWNER_PID=${process.pid}`, ''].join('\n'),
  )
  const pgidFile = join(dir, 'pgids')
  writeFileSync(pgidFile, '')
  const watchdog = startCleanupWatchdog(stateFile)
  const logsDir = join(dir, 'logs')
  await mkdir(logsDir, { recursive: true })

  const processes: ManagedProcess[] = []
  const run = (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ManagedProcess => {
    const managed = startProcess(
      { name, command: 'nsenter', args: [`--net=${netnsPath}`, '--', command, ...args], logPath: join(logsDir, `${name}.log`), ...(env ? { env } : {}) },
      { handleSignals: options.handleSignals ?? true },
    )
    recordGroup(pgidFile, managed.pid)
    processes.push(managed)
    return managed
  }

  let cp: ControlPlane | undefined
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // Node components first (the kubelets must not restart pods the clean-up kills), then the
      // control plane, then everything the clean-up script knows about.
      for (const p of [...processes].reverse()) await p.stop(5_000).catch(() => undefined)
      await cp?.stop().catch(() => undefined)
      stopWatchdog(watchdog)
      await exec('bash', [CLEANUP_SCRIPT, stateFile], { allowFailure: true, timeoutMs: 120_000 })
      lock.release()
    })()
    return stopped
  }

  try {
    // --- network namespace ------------------------------------------------------------------
    await exec('ip', ['netns', 'add', netns])
    await exec('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns])
    await exec('ip', ['addr', 'add', `${hostIp}/29`, 'dev', veth])
    await exec('ip', ['link', 'set', veth, 'up'])
    for (const ip of nodeIps) await exec('ip', ['-n', netns, 'addr', 'add', `${ip}/29`, 'dev', 'eth0'])
    await exec('ip', ['-n', netns, 'link', 'set', 'lo', 'up'])
    await exec('ip', ['-n', netns, 'link', 'set', 'eth0', 'up'])
    // A route for the Service range, or a process of the namespace itself (the API server calling
    // the webhook's ClusterIP) fails with "network is unreachable" before kube-proxy's DNAT. Via
    // the loopback device: whatever kube-proxy does not rewrite goes nowhere.
    await exec('ip', ['-n', netns, 'route', 'add', SERVICE_CIDR, 'dev', 'lo'])
    // Routing between the nodes' bridges and the namespace's own addresses; per-namespace settings.
    await exec('nsenter', [`--net=${netnsPath}`, '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    await exec('nsenter', [`--net=${netnsPath}`, '--', 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { allowFailure: true })
    log(`node: network namespace ${netns} (${nodeIps.join(', ')}) after ${since()}`)

    // --- host settings the kubelet changes: remember them once, cleanup.sh puts them back ------
    const sysctlOrig = join(REGISTRY, 'sysctl.orig')
    if (!existsSync(sysctlOrig)) {
      const lines: string[] = []
      for (const key of KUBELET_SYSCTLS) {
        const r = await exec('sysctl', ['-n', key], { allowFailure: true })
        if (r.code === 0) lines.push(`${key} ${r.stdout.trim()}`)
      }
      writeFileSync(sysctlOrig, `${lines.join('\n')}\n`)
    }
    for (const root of cgroupRoots) createCgroupRoot(root)

    // --- identities ---------------------------------------------------------------------------
    const pkiDir = join(dir, 'pki')
    await mkdir(pkiDir, { recursive: true, mode: 0o700 })
    const ca = await createCertificateAuthority({ commonName: 'runguard-test-cluster-ca', days: 60 })
    const caFile = join(pkiDir, 'ca.crt')
    await writeFile(caFile, ca.certPem)
    const writePair = async (name: string, cert: IssuedCertificate): Promise<{ cert: string; key: string }> => {
      const paths = { cert: join(pkiDir, `${name}.crt`), key: join(pkiDir, `${name}.key`) }
      await writeFile(paths.cert, cert.certPem)
      await writeFile(paths.key, cert.keyPem, { mode: 0o600 })
      return paths
    }
    const kubeletClient = await writePair('apiserver-kubelet-client', await issueClientCertificate(ca, { commonName: 'kube-apiserver-kubelet-client', days: 30 }))

    cp = await startControlPlane({
      workDir: join(dir, 'controlplane'),
      keepWorkDir: true, // cleanup.sh removes `dir` as a whole
      ca,
      netns: netnsPath,
      host: apiHost,
      handleSignals: options.handleSignals ?? true,
      controllers: [...DEFAULT_CONTROLLERS, ...NODE_CONTROLLERS],
      apiServerArgs: [
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--kubelet-client-certificate=${kubeletClient.cert}`,
        `--kubelet-client-key=${kubeletClient.key}`,
        `--kubelet-certificate-authority=${caFile}`,
        '--kubelet-preferred-address-types=InternalIP,Hostname',
        ...(options.controlPlane?.apiServerArgs ?? []),
      ],
      ...(options.controlPlane?.controllerManagerArgs ? { controllerManagerArgs: options.controlPlane.controllerManagerArgs } : {}),
      ...(options.controlPlane?.startTimeoutMs ? { startTimeoutMs: options.controlPlane.startTimeoutMs } : {}),
    })
    const controlPlane = cp
    log(`node: control plane ready at ${cp.server} after ${since()}`)
    await cp.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'runguard-test:kube-apiserver-kubelet-client' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'kube-apiserver-kubelet-client' }],
    })
    const kubeconfigFor = async (name: string, commonName: string, organizations: string[] = []): Promise<string> => {
      const cert = await issueClientCertificate(ca, { commonName, organizations, days: 30 })
      const path = join(pkiDir, `${name}.kubeconfig`)
      await writeFile(path, kubeconfig(controlPlane.server, ca.certPem, commonName, cert), { mode: 0o600 })
      return path
    }
    const resolvConf = join(dir, 'resolv.conf')
    await writeFile(resolvConf, '# no cluster DNS and no way out of the network namespace\noptions ndots:1\n')

    // --- nodes ----------------------------------------------------------------------------------
    const nodes = await Promise.all(
      nodeNames.map(async (name, i): Promise<TestNode> => {
        const ip = nodeIps[i] ?? ''
        const nodeDir = join(dir, name)
        const cd = join(nodeDir, 'containerd')
        const socket = join(cd, 'containerd.sock')
        await mkdir(join(nodeDir, 'cni', 'net.d'), { recursive: true })
        await mkdir(cd, { recursive: true })
        await writeFile(join(cd, 'config.toml'), containerdConfig(cd, images.pause.name, join(nodeDir, 'cni', 'net.d')))
        await writeFile(join(nodeDir, 'cni', 'net.d', '10-bridge.conflist'), JSON.stringify(cniConfig(`${netns}-${name}`, `rgbr${i}`, i, join(nodeDir, 'cni', 'ipam')), null, 2))
        const containerd = run(`containerd-${name}`, '/usr/bin/containerd', ['--config', join(cd, 'config.toml'), '--log-level', 'warn'])
        await waitFor(`containerd of ${name}`, 30_000, containerd, async () => ((await ctrAt(socket, ['version'], true)).code === 0 ? true : 'no answer'))
        for (const image of [images.pause, ...(options.runguardImage === false ? [] : [images.runguard])]) {
          const base = image.name.slice(0, image.name.lastIndexOf(':'))
          await ctrAt(socket, ['images', 'import', '--base-name', base, image.archive])
          // Pinned: the kubelet's image garbage collection never removes them.
          await ctrAt(socket, ['images', 'label', image.name, 'io.cri-containerd.pinned=pinned'])
        }
        log(`node: ${name}: containerd up with the images after ${since()}`)

        const serving = await writePair(`kubelet-${name}`, await issueCertificate(ca, { commonName: name, dnsNames: [name], ipAddresses: [ip], usages: ['serverAuth'], days: 30 }))
        const kubeletKubeconfig = await kubeconfigFor(`kubelet-${name}`, `system:node:${name}`, ['system:nodes'])
        const rootDir = join(nodeDir, 'kubelet')
        const podLogsDir = join(nodeDir, 'pod-logs')
        for (const d of [rootDir, podLogsDir, join(nodeDir, 'volume-plugins'), join(nodeDir, 'kubelet-pki')]) await mkdir(d, { recursive: true })
        const configPath = join(nodeDir, 'kubelet.yaml')
        await writeFile(
          configPath,
          stringify({
            apiVersion: 'kubelet.config.k8s.io/v1beta1',
            kind: 'KubeletConfiguration',
            address: ip,
            port: 10250,
            readOnlyPort: 0,
            healthzBindAddress: '127.0.0.1',
            healthzPort: 10248 + i * 10,
            tlsCertFile: serving.cert,
            tlsPrivateKeyFile: serving.key,
            rotateCertificates: false,
            serverTLSBootstrap: false,
            authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caFile } },
            authorization: { mode: 'Webhook' },
            // This machine: cgroup v1 (the kubelet refuses it unless told), cgroupfs, no swap rule.
            failCgroupV1: false,
            cgroupDriver: 'cgroupfs',
            cgroupRoot: `/${cgroupRoots[i]}`,
            failSwapOn: false,
            containerRuntimeEndpoint: `unix://${socket}`,
            podLogsDir,
            volumePluginDir: join(nodeDir, 'volume-plugins'),
            resolvConf,
            clusterDomain: 'cluster.local',
            // A test machine's disk and memory: evict only when nearly full; never GC our images.
            evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
            imageGCHighThresholdPercent: 100,
            imageGCLowThresholdPercent: 99,
            maxPods: 30,
            serializeImagePulls: false,
            // Status and probes as in a cluster; pod updates (e.g. a secret's rotation) a bit sooner.
            syncFrequency: '10s',
          }),
        )
        const kubeletStarted = Date.now()
        const kubelet = run(`kubelet-${name}`, join(binDir, 'kubelet'), [
          `--config=${configPath}`,
          `--kubeconfig=${kubeletKubeconfig}`,
          `--root-dir=${rootDir}`,
          `--cert-dir=${join(nodeDir, 'kubelet-pki')}`,
          `--hostname-override=${name}`,
          `--node-ip=${ip}`,
          '--v=1',
        ])
        await waitFor(`node ${name} Ready`, 60_000, kubelet, async () => {
          const r = await controlPlane.request('GET', `/api/v1/nodes/${name}`)
          if (r.status !== 200) return `HTTP ${r.status}`
          const node = r.body as { spec?: { taints?: Array<{ key: string }> }; status?: { conditions?: Array<{ type: string; status: string }> } }
          const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
          return ready ? true : 'not Ready yet'
        })
        const readyAfterMs = Date.now() - kubeletStarted
        log(`node: ${name} Ready ${readyAfterMs} ms after the kubelet started (${since()})`)
        return { name, ip, dir: nodeDir, containerdSocket: socket, rootDir, podLogsDir, cgroupRoot: `/${cgroupRoots[i]}`, kubelet, containerd, readyAfterMs }
      }),
    )

    // --- scheduler and kube-proxy (one each: the nodes share the network namespace) -----------
    const schedulerKubeconfig = await kubeconfigFor('kube-scheduler', 'system:kube-scheduler')
    const scheduler = run('kube-scheduler', join(binDir, 'kube-scheduler'), [
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=10259',
    ])
    const proxyKubeconfig = await kubeconfigFor('kube-proxy', 'system:kube-proxy')
    const proxy = run('kube-proxy', join(binDir, 'kube-proxy'), [
      `--kubeconfig=${proxyKubeconfig}`,
      `--hostname-override=${nodeNames[0]}`,
      '--cluster-cidr=10.244.0.0/16',
      '--proxy-mode=iptables',
      '--conntrack-max-per-core=0', // leave the host-wide nf_conntrack_max alone
      '--metrics-bind-address=127.0.0.1:10249',
      '--healthz-bind-address=127.0.0.1:10256',
    ])
    await waitFor('kube-scheduler /healthz', 30_000, scheduler, async () => {
      const r = await inNetns(netnsPath, 'bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/10259'], { allowFailure: true })
      return r.code === 0 ? true : 'not listening'
    })
    await waitFor('kube-proxy /healthz', 30_000, proxy, async () => {
      const r = await inNetns(netnsPath, 'bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/10256 && printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" >&3 && head -1 <&3'], { allowFailure: true })
      return r.stdout.includes(' 200 ') ? true : `not healthy: ${r.stdout.trim()}`
    })
    // Schedulable: the node-lifecycle controller has lifted the not-ready taint.
    for (const node of nodes) {
      await waitFor(`node ${node.name} untainted`, 60_000, node.kubelet, async () => {
        const r = await controlPlane.request('GET', `/api/v1/nodes/${node.name}`)
        const taints = (r.body as { spec?: { taints?: Array<{ key: string }> } }).spec?.taints ?? []
        return taints.some((t) => t.key === 'node.kubernetes.io/not-ready') ? 'still tainted not-ready' : true
      })
    }
    log(`node: cluster of ${nodes.length} node(s) ready after ${since()}`)

    return {
      cp,
      nodes,
      netns,
      netnsPath,
      ca,
      images,
      dir,
      ctr: (node, args, ctrOptions = {}) => ctrAt(node.containerdSocket, args, ctrOptions.allowFailure === true),
      inNetns: (command, args, execOptions) => inNetns(netnsPath, command, args, execOptions),
      containerPid: async (containerId) => {
        const id = containerId.replace(/^containerd:\/\//, '')
        for (const node of nodes) {
          const r = await ctrAt(node.containerdSocket, ['tasks', 'ls'], true)
          const line = r.stdout.split('\n').find((l) => l.startsWith(id))
          const pid = Number(line?.trim().split(/\s+/)[1])
          if (pid > 0) return pid
        }
        throw new Error(`no running task for container ${id}`)
      },
      nodeOf: (nodeName) => {
        const node = nodes.find((n) => n.name === nodeName)
        if (!node) throw new Error(`no node ${nodeName}`)
        return node
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** startNodeCluster() with stop() registered as a teardown of the tap test `t`. */
export async function startNodeClusterForTest(t: { teardown(fn: () => unknown): void }, options: NodeClusterOptions = {}): Promise<NodeCluster> {
  const cluster = await startNodeCluster(options)
  t.teardown(() => cluster.stop())
  return cluster
}

/** A /29 of 10.251.0.0/16 no live cluster (and no interface of this host) uses. */
async function pickNetworkIndex(): Promise<number> {
  const addresses = (await exec('ip', ['-4', '-o', 'addr', 'show'])).stdout
  const links = (await exec('ip', ['-o', 'link', 'show'])).stdout
  const taken = (k: number): boolean =>
    existsSync(join(REGISTRY, `rgn-${k}.env`)) || existsSync(`/run/netns/rgn-${k}`) || addresses.includes(` 10.251.${k}.`) || links.includes(` rgh-${k}:`) || links.includes(` rgh-${k}@`)
  for (let attempt = 0; attempt < 200; attempt++) {
    const k = 1 + Math.floor(Math.random() * 250)
    if (!taken(k)) return k
  }
  throw new Error('no free 10.251.<k>.0/29 for a test node')
}

/** The cgroup root of a node in every hierarchy (v1), or in the unified tree (v2). */
function createCgroupRoot(name: string): void {
  const base = '/sys/fs/cgroup'
  if (existsSync(join(base, 'cgroup.controllers'))) {
    mkdirSync(join(base, name), { recursive: true })
    return
  }
  for (const hierarchy of readdirSync(base)) {
    const path = join(base, hierarchy)
    if (!existsSync(join(path, 'cgroup.procs'))) continue // a symlink such as cpu,cpuacct, or not a hierarchy
    mkdirSync(join(path, name), { recursive: true })
    if (hierarchy === 'cpuset') {
      // A new cpuset has no CPUs or memory nodes; give it its parent's.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(path, name, file), readFileSync(join(path, file), 'utf8'))
    }
  }
}

function containerdConfig(dir: string, sandboxImage: string, cniConfDir: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  # This machine lacks CAP_SYS_RESOURCE: a negative oom_score_adj (the pause container asks for
  # -998) fails every sandbox with "can't get final child's PID from pipe: EOF" otherwise.
  restrict_oom_score_adj = true
  # Pod network namespaces under the state dir, not /var/run/netns: clean-up finds them there.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${cniConfDir}"
`
}

function cniConfig(network: string, bridge: string, index: number, ipamDir: string): object {
  return {
    cniVersion: '1.0.0',
    name: network,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: false, // nothing leaves the namespace; no NAT needed to reach its addresses
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: `10.244.${index}.0/24` }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  }
}

function kubeconfig(server: string, caPem: string, user: string, cert: IssuedCertificate): string {
  const b64 = (text: string): string => Buffer.from(text).toString('base64')
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'runguard-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(cert.certPem), 'client-key-data': b64(cert.keyPem) } }],
    contexts: [{ name: 'runguard-test', context: { cluster: 'runguard-test', user } }],
    'current-context': 'runguard-test',
  })
}

/**
 * An exclusive flock(1) on `path`, held by a child process that lives as long as its stdin is open
 * (so the lock also goes when this process dies, however it dies).
 */
async function hostLock(path: string, timeoutMs: number): Promise<{ release(): void }> {
  const child = spawn('flock', ['--exclusive', '--timeout', String(Math.ceil(timeoutMs / 1000)), path, 'bash', '-c', 'echo locked; read -r _'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  await new Promise<void>((resolveLock, reject) => {
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      if (out.includes('locked')) resolveLock()
    })
    child.once('exit', (code) => reject(new Error(`another node cluster held ${path} for ${timeoutMs} ms (flock exit ${code})`)))
  })
  child.unref()
  ;(child.stdout as unknown as { unref?: () => void } | null)?.unref?.()
  ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  return {
    release: () => {
      child.stdin?.end()
      child.kill('SIGTERM')
    },
  }
}

function startCleanupWatchdog(stateFile: string): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" "$3"'
  const child = spawn('bash', ['-c', script, 'runguard-node-watchdog', String(process.pid), CLEANUP_SCRIPT, stateFile], { detached: true, stdio: 'ignore' })
  child.unref()
  return child
}

function stopWatchdog(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function ctrAt(socket: string, args: string[], allowFailure = false): Promise<ExecResult> {
  return exec('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { allowFailure, timeoutMs: 120_000 })
}

function inNetns(netnsPath: string, command: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return exec('nsenter', [`--net=${netnsPath}`, '--', command, ...args], options)
}

interface InternalExecOptions extends ExecOptions {
  inheritStderr?: boolean
}

export function exec(command: string, args: string[], options: InternalExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolveRun, reject) => {
    const child = execFile(command, args, { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      if (options.inheritStderr === true) process.stderr.write(stderr)
      if (code !== 0 && options.allowFailure !== true) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`))
        return
      }
      resolveRun({ code, stdout, stderr })
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
    else child.stdin?.end()
  })
}
