// kennel's own definition of the part of the CRI v1 API (package runtime.v1, services
// RuntimeService and ImageService) that the containerd runtime uses. No npm or Debian package
// ships the CRI .proto, so the messages kennel sends and reads are declared here; names of
// packages, services, methods and every field number follow the CRI wire format, so a real
// containerd (or any CRI runtime) understands them. Fields kennel never uses are left out:
// protobuf skips unknown fields on decode.
//
// The text is parsed by protobufjs and turned into a gRPC package definition by
// @grpc/proto-loader (fromJSON), so nothing has to be found on disk at run time.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const CRI_PROTO = `
syntax = "proto3";
package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc RunPodSandbox(RunPodSandboxRequest) returns (RunPodSandboxResponse) {}
  rpc StopPodSandbox(StopPodSandboxRequest) returns (StopPodSandboxResponse) {}
  rpc RemovePodSandbox(RemovePodSandboxRequest) returns (RemovePodSandboxResponse) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
  rpc ListPodSandbox(ListPodSandboxRequest) returns (ListPodSandboxResponse) {}
  rpc CreateContainer(CreateContainerRequest) returns (CreateContainerResponse) {}
  rpc StartContainer(StartContainerRequest) returns (StartContainerResponse) {}
  rpc StopContainer(StopContainerRequest) returns (StopContainerResponse) {}
  rpc RemoveContainer(RemoveContainerRequest) returns (RemoveContainerResponse) {}
  rpc ListContainers(ListContainersRequest) returns (ListContainersResponse) {}
  rpc ContainerStatus(ContainerStatusRequest) returns (ContainerStatusResponse) {}
  rpc ReopenContainerLog(ReopenContainerLogRequest) returns (ReopenContainerLogResponse) {}
  rpc ExecSync(ExecSyncRequest) returns (ExecSyncResponse) {}
  rpc Exec(ExecRequest) returns (ExecResponse) {}
  rpc Attach(AttachRequest) returns (AttachResponse) {}
  rpc PortForward(PortForwardRequest) returns (PortForwardResponse) {}
  rpc Status(StatusRequest) returns (StatusResponse) {}
}

service ImageService {
  rpc ListImages(ListImagesRequest) returns (ListImagesResponse) {}
  rpc ImageStatus(ImageStatusRequest) returns (ImageStatusResponse) {}
  rpc PullImage(PullImageRequest) returns (PullImageResponse) {}
  rpc RemoveImage(RemoveImageRequest) returns (RemoveImageResponse) {}
}

message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

message DNSConfig {
  repeated string servers = 1;
  repeated string searches = 2;
  repeated string options = 3;
}

enum Protocol { TCP = 0; UDP = 1; SCTP = 2; }

message PortMapping {
  Protocol protocol = 1;
  int32 container_port = 2;
  int32 host_port = 3;
  string host_ip = 4;
}

enum MountPropagation {
  PROPAGATION_PRIVATE = 0;
  PROPAGATION_HOST_TO_CONTAINER = 1;
  PROPAGATION_BIDIRECTIONAL = 2;
}

message Mount {
  string container_path = 1;
  string host_path = 2;
  bool readonly = 3;
  bool selinux_relabel = 4;
  MountPropagation propagation = 5;
}

enum NamespaceMode { POD = 0; CONTAINER = 1; NODE = 2; TARGET = 3; }

message NamespaceOption {
  NamespaceMode network = 1;
  NamespaceMode pid = 2;
  NamespaceMode ipc = 3;
  string target_id = 4;
}

message Int64Value { int64 value = 1; }

message LinuxSandboxSecurityContext {
  NamespaceOption namespace_options = 1;
  Int64Value run_as_user = 3;
  bool readonly_rootfs = 4;
  repeated int64 supplemental_groups = 5;
  bool privileged = 6;
  Int64Value run_as_group = 8;
}

message LinuxPodSandboxConfig {
  string cgroup_parent = 1;
  LinuxSandboxSecurityContext security_context = 2;
  map<string, string> sysctls = 3;
}

message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}

message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  DNSConfig dns_config = 4;
  repeated PortMapping port_mappings = 5;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}

message RunPodSandboxRequest {
  PodSandboxConfig config = 1;
  string runtime_handler = 2;
}
message RunPodSandboxResponse { string pod_sandbox_id = 1; }

message StopPodSandboxRequest { string pod_sandbox_id = 1; }
message StopPodSandboxResponse {}
message RemovePodSandboxRequest { string pod_sandbox_id = 1; }
message RemovePodSandboxResponse {}

message PodSandboxStatusRequest {
  string pod_sandbox_id = 1;
  bool verbose = 2;
}

message PodIP { string ip = 1; }

message PodSandboxNetworkStatus {
  string ip = 1;
  repeated PodIP additional_ips = 2;
}

enum PodSandboxState { SANDBOX_READY = 0; SANDBOX_NOTREADY = 1; }

message PodSandboxStatus {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  PodSandboxNetworkStatus network = 5;
  map<string, string> labels = 7;
  map<string, string> annotations = 8;
  string runtime_handler = 9;
}

message PodSandboxStatusResponse {
  PodSandboxStatus status = 1;
  map<string, string> info = 2;
}

message PodSandboxStateValue { PodSandboxState state = 1; }

message PodSandboxFilter {
  string id = 1;
  PodSandboxStateValue state = 2;
  map<string, string> label_selector = 3;
}

message ListPodSandboxRequest { PodSandboxFilter filter = 1; }

message PodSandbox {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  map<string, string> labels = 5;
  map<string, string> annotations = 6;
  string runtime_handler = 7;
}

message ListPodSandboxResponse { repeated PodSandbox items = 1; }

message ImageSpec {
  string image = 1;
  map<string, string> annotations = 2;
}

message KeyValue {
  string key = 1;
  string value = 2;
}

message LinuxContainerResources {
  int64 cpu_period = 1;
  int64 cpu_quota = 2;
  int64 cpu_shares = 3;
  int64 memory_limit_in_bytes = 4;
  int64 oom_score_adj = 5;
  string cpuset_cpus = 6;
  string cpuset_mems = 7;
}

message Capability {
  repeated string add_capabilities = 1;
  repeated string drop_capabilities = 2;
}

message LinuxContainerSecurityContext {
  Capability capabilities = 1;
  bool privileged = 2;
  NamespaceOption namespace_options = 3;
  Int64Value run_as_user = 5;
  string run_as_username = 6;
  bool readonly_rootfs = 7;
  repeated int64 supplemental_groups = 8;
  bool no_new_privs = 11;
  Int64Value run_as_group = 12;
}

message LinuxContainerConfig {
  LinuxContainerResources resources = 1;
  LinuxContainerSecurityContext security_context = 2;
}

message ContainerMetadata {
  string name = 1;
  uint32 attempt = 2;
}

message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  string working_dir = 5;
  repeated KeyValue envs = 6;
  repeated Mount mounts = 7;
  map<string, string> labels = 9;
  map<string, string> annotations = 10;
  string log_path = 11;
  bool stdin = 12;
  bool stdin_once = 13;
  bool tty = 14;
  LinuxContainerConfig linux = 15;
}

message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}
message CreateContainerResponse { string container_id = 1; }

message StartContainerRequest { string container_id = 1; }
message StartContainerResponse {}

message StopContainerRequest {
  string container_id = 1;
  int64 timeout = 2;
}
message StopContainerResponse {}

message RemoveContainerRequest { string container_id = 1; }
message RemoveContainerResponse {}

enum ContainerState {
  CONTAINER_CREATED = 0;
  CONTAINER_RUNNING = 1;
  CONTAINER_EXITED = 2;
  CONTAINER_UNKNOWN = 3;
}

message ContainerStateValue { ContainerState state = 1; }

message ContainerFilter {
  string id = 1;
  ContainerStateValue state = 2;
  string pod_sandbox_id = 3;
  map<string, string> label_selector = 4;
}

message ListContainersRequest { ContainerFilter filter = 1; }

message Container {
  string id = 1;
  string pod_sandbox_id = 2;
  ContainerMetadata metadata = 3;
  ImageSpec image = 4;
  string image_ref = 5;
  ContainerState state = 6;
  int64 created_at = 7;
  map<string, string> labels = 8;
  map<string, string> annotations = 9;
}

message ListContainersResponse { repeated Container containers = 1; }

message ContainerStatusRequest {
  string container_id = 1;
  bool verbose = 2;
}

message ContainerStatus {
  string id = 1;
  ContainerMetadata metadata = 2;
  ContainerState state = 3;
  int64 created_at = 4;
  int64 started_at = 5;
  int64 finished_at = 6;
  int32 exit_code = 7;
  ImageSpec image = 8;
  string image_ref = 9;
  string reason = 10;
  string message = 11;
  map<string, string> labels = 12;
  map<string, string> annotations = 13;
  repeated Mount mounts = 14;
  string log_path = 15;
}

message ContainerStatusResponse {
  ContainerStatus status = 1;
  map<string, string> info = 2;
}

message ReopenContainerLogRequest { string container_id = 1; }
message ReopenContainerLogResponse {}

message ExecSyncRequest {
  string container_id = 1;
  repeated string cmd = 2;
  int64 timeout = 3;
}

message ExecSyncResponse {
  bytes stdout = 1;
  bytes stderr = 2;
  int32 exit_code = 3;
}

message ExecRequest {
  string container_id = 1;
  repeated string cmd = 2;
  bool tty = 3;
  bool stdin = 4;
  bool stdout = 5;
  bool stderr = 6;
}
message ExecResponse { string url = 1; }

message AttachRequest {
  string container_id = 1;
  bool stdin = 2;
  bool tty = 3;
  bool stdout = 4;
  bool stderr = 5;
}
message AttachResponse { string url = 1; }

message PortForwardRequest {
  string pod_sandbox_id = 1;
  repeated int32 port = 2;
}
message PortForwardResponse { string url = 1; }

message RuntimeCondition {
  string type = 1;
  bool status = 2;
  string reason = 3;
  string message = 4;
}
message RuntimeStatus { repeated RuntimeCondition conditions = 1; }
message StatusRequest { bool verbose = 1; }
message StatusResponse {
  RuntimeStatus status = 1;
  map<string, string> info = 2;
}

message ImageFilter { ImageSpec image = 1; }
message ListImagesRequest { ImageFilter filter = 1; }

message Image {
  string id = 1;
  repeated string repo_tags = 2;
  repeated string repo_digests = 3;
  uint64 size = 4;
  Int64Value uid = 5;
  string username = 6;
  ImageSpec spec = 7;
  bool pinned = 8;
}
message ListImagesResponse { repeated Image images = 1; }

message ImageStatusRequest {
  ImageSpec image = 1;
  bool verbose = 2;
}
message ImageStatusResponse {
  Image image = 1;
  map<string, string> info = 2;
}

message AuthConfig {
  string username = 1;
  string password = 2;
  string auth = 3;
  string server_address = 4;
  string identity_token = 5;
  string registry_token = 6;
}

message PullImageRequest {
  ImageSpec image = 1;
  AuthConfig auth = 2;
  PodSandboxConfig sandbox_config = 3;
}
message PullImageResponse { string image_ref = 1; }

message RemoveImageRequest { ImageSpec image = 1; }
message RemoveImageResponse {}
`;

// ---- TypeScript shapes of the messages as @grpc/proto-loader presents them ----
// (camelCase field names, int64/uint64 as decimal strings, enums as their names, defaults
// filled in on decode). Requests may leave fields out.

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type CriProtocol = 'TCP' | 'UDP' | 'SCTP';
export type CriMountPropagation =
  | 'PROPAGATION_PRIVATE'
  | 'PROPAGATION_HOST_TO_CONTAINER'
  | 'PROPAGATION_BIDIRECTIONAL';
export type CriPodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type CriContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
/** int64 on the wire: strings when decoded, numbers or strings when encoded. */
export type Int64 = string;
export type Int64In = string | number;

export interface CriNamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface CriPodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface CriPodSandboxConfig {
  metadata: CriPodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers: string[]; searches: string[]; options: string[] };
  portMappings?: { protocol: CriProtocol; containerPort: number; hostPort?: number; hostIp?: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: {
      namespaceOptions?: CriNamespaceOption;
      privileged?: boolean;
    };
    sysctls?: Record<string, string>;
  };
}

export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  propagation?: CriMountPropagation;
}

export interface CriContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  mounts?: CriMount[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: {
    resources?: {
      cpuPeriod?: Int64In;
      cpuQuota?: Int64In;
      cpuShares?: Int64In;
      memoryLimitInBytes?: Int64In;
    };
    securityContext?: {
      privileged?: boolean;
      namespaceOptions?: CriNamespaceOption;
      runAsUser?: { value: Int64In };
      runAsGroup?: { value: Int64In };
    };
  };
}

export interface CriPodSandboxStatus {
  id: string;
  metadata: CriPodSandboxMetadata | null;
  state: CriPodSandboxState;
  createdAt: Int64;
  network: { ip: string; additionalIps: { ip: string }[] } | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriPodSandbox {
  id: string;
  metadata: CriPodSandboxMetadata | null;
  state: CriPodSandboxState;
  createdAt: Int64;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number } | null;
  image: { image: string } | null;
  imageRef: string;
  state: CriContainerState;
  createdAt: Int64;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriContainerStatus {
  id: string;
  metadata: { name: string; attempt: number } | null;
  state: CriContainerState;
  createdAt: Int64;
  startedAt: Int64;
  finishedAt: Int64;
  exitCode: number;
  image: { image: string } | null;
  imageRef: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: CriMount[];
  logPath: string;
}

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: Int64;
}

export interface CriAuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** Request and response types of every method kennel calls. */
export interface CriMethods {
  Version: [{ version: string }, { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }];
  RunPodSandbox: [{ config: CriPodSandboxConfig; runtimeHandler?: string }, { podSandboxId: string }];
  StopPodSandbox: [{ podSandboxId: string }, Record<string, never>];
  RemovePodSandbox: [{ podSandboxId: string }, Record<string, never>];
  PodSandboxStatus: [{ podSandboxId: string; verbose?: boolean }, { status: CriPodSandboxStatus | null; info: Record<string, string> }];
  ListPodSandbox: [{ filter?: { id?: string; state?: { state: CriPodSandboxState }; labelSelector?: Record<string, string> } }, { items: CriPodSandbox[] }];
  CreateContainer: [{ podSandboxId: string; config: CriContainerConfig; sandboxConfig: CriPodSandboxConfig }, { containerId: string }];
  StartContainer: [{ containerId: string }, Record<string, never>];
  StopContainer: [{ containerId: string; timeout: Int64In }, Record<string, never>];
  RemoveContainer: [{ containerId: string }, Record<string, never>];
  ListContainers: [{ filter?: { id?: string; podSandboxId?: string; state?: { state: CriContainerState }; labelSelector?: Record<string, string> } }, { containers: CriContainer[] }];
  ContainerStatus: [{ containerId: string; verbose?: boolean }, { status: CriContainerStatus | null; info: Record<string, string> }];
  ReopenContainerLog: [{ containerId: string }, Record<string, never>];
  ExecSync: [{ containerId: string; cmd: string[]; timeout: Int64In }, { stdout: Buffer; stderr: Buffer; exitCode: number }];
  Exec: [{ containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }, { url: string }];
  Attach: [{ containerId: string; stdin: boolean; tty: boolean; stdout: boolean; stderr: boolean }, { url: string }];
  PortForward: [{ podSandboxId: string; port: number[] }, { url: string }];
  Status: [{ verbose?: boolean }, { status: { conditions: { type: string; status: boolean; reason: string; message: string }[] } | null; info: Record<string, string> }];
  ListImages: [{ filter?: { image?: { image: string } } }, { images: CriImage[] }];
  ImageStatus: [{ image: { image: string }; verbose?: boolean }, { image: CriImage | null; info: Record<string, string> }];
  PullImage: [{ image: { image: string }; auth?: CriAuthConfig; sandboxConfig?: CriPodSandboxConfig }, { imageRef: string }];
  RemoveImage: [{ image: { image: string } }, Record<string, never>];
}

export type CriMethod = keyof CriMethods;

const IMAGE_METHODS = new Set<CriMethod>(['ListImages', 'ImageStatus', 'PullImage', 'RemoveImage']);

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
};

let packageCache: grpc.GrpcObject | undefined;

/** The loaded CRI package (runtime.v1): the clients here, and fake CRI servers in tests. */
export function criPackage(): grpc.GrpcObject {
  if (!packageCache) {
    const root = protobuf.parse(CRI_PROTO, { keepCase: false }).root;
    const def = protoLoader.fromJSON(root.toJSON(), LOADER_OPTIONS);
    packageCache = grpc.loadPackageDefinition(def);
  }
  return packageCache;
}

/** The gRPC status code of an error from a CRI call, if it has one. */
export function grpcCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  return undefined;
}

/** The message the runtime gave (without grpc-js's "N CODE: " prefix). */
export function grpcDetails(err: unknown): string {
  if (err && typeof err === 'object' && 'details' in err && typeof (err as { details: unknown }).details === 'string') {
    return (err as { details: string }).details;
  }
  return err instanceof Error ? err.message : String(err);
}

export { grpc };

/**
 * A typed CRI client over one gRPC channel to a unix socket (or any grpc-js target).
 * `call(method, request, timeoutMs)` resolves with the decoded response.
 */
export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;

  constructor(readonly target: string) {
    const pkg = criPackage();
    const v1 = (pkg.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const RuntimeService = v1.RuntimeService as grpc.ServiceClientConstructor;
    const ImageService = v1.ImageService as grpc.ServiceClientConstructor;
    const address = target.includes('://') ? target : `unix://${target}`;
    const opts: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      // containerd restarts (upgrades, config changes) should be noticed within a second or two.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
    };
    this.runtime = new RuntimeService(address, grpc.credentials.createInsecure(), opts);
    // The image service shares the runtime client's channel.
    this.image = new ImageService(address, grpc.credentials.createInsecure(), {
      ...opts,
      channelOverride: this.runtime.getChannel(),
    });
  }

  call<M extends CriMethod>(method: M, request: CriMethods[M][0], timeoutMs = 120_000): Promise<CriMethods[M][1]> {
    const client = IMAGE_METHODS.has(method) ? this.image : this.runtime;
    const fn = (client as unknown as Record<string, unknown>)[method] as (
      req: unknown,
      meta: grpc.Metadata,
      options: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res: unknown) => void,
    ) => void;
    return new Promise((resolve, reject) => {
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as CriMethods[M][1]);
      });
    });
  }

  close(): void {
    this.image.close();
    this.runtime.close();
  }
}
