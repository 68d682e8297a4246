// The Kubernetes protobuf message definitions (k8s.io/api generated.proto field numbers), written
// as a compact table, and their parsed form.

// ---------------------------------------------------------------------------------------------
// Message definitions. One entry per message: space-separated `jsonName=number[:type][flags]`.
//   type: (none) string · b bool · i32 int32 · i64 int64 · by bytes (base64 in JSON)
//         Time · MicroTime · Q (Quantity) · IOS (IntOrString) · FieldsV1 · SL (a []string type)
//         [T] repeated T · {} map<string,string> · {T} map<string,T> · Name other message
//   flags: ! keep zero values (Go pointer or always printed) · ^ inline (embedded in JSON)
//          @proto the proto field name when it differs from the JSON name (documentation only)
// ---------------------------------------------------------------------------------------------
const DEFS: Record<string, string> = {
  // k8s.io/apimachinery/pkg/apis/meta/v1
  ObjectMeta:
    'name=1 generateName=2 namespace=3 selfLink=4 uid=5 resourceVersion=6 generation=7:i64 creationTimestamp=8:Time ' +
    'deletionTimestamp=9:Time deletionGracePeriodSeconds=10:i64! labels=11:{} annotations=12:{} ' +
    'ownerReferences=13:[OwnerReference] finalizers=14:[string] managedFields=17:[ManagedFieldsEntry]',
  OwnerReference: 'apiVersion=5 kind=1 name=3 uid=4 controller=6:b! blockOwnerDeletion=7:b!',
  ManagedFieldsEntry:
    'manager=1 operation=2 apiVersion=3 time=4:Time fieldsType=6 fieldsV1=7:FieldsV1 subresource=8',
  LabelSelector: 'matchLabels=1:{} matchExpressions=2:[LabelSelectorRequirement]',
  LabelSelectorRequirement: 'key=1 operator=2 values=3:[string]',
  FieldSelectorRequirement: 'key=1 operator=2 values=3:[string]',
  Condition: 'type=1 status=2 observedGeneration=3:i64 lastTransitionTime=4:Time reason=5 message=6',
  DeleteOptions:
    'gracePeriodSeconds=1:i64! preconditions=2:Preconditions orphanDependents=3:b! propagationPolicy=4 ' +
    'dryRun=5:[string] ignoreStoreReadErrorWithClusterBreakingPotential=6:b!',
  Preconditions: 'uid=1 resourceVersion=2',

  // k8s.io/api/core/v1 — Namespace, ConfigMap, Secret, ServiceAccount, Binding
  Namespace: 'metadata=1:ObjectMeta spec=2:NamespaceSpec status=3:NamespaceStatus',
  NamespaceSpec: 'finalizers=1:[string]',
  NamespaceStatus: 'phase=1 conditions=2:[NamespaceCondition]',
  NamespaceCondition: 'type=1 status=2 lastTransitionTime=4:Time reason=5 message=6',
  ConfigMap: 'metadata=1:ObjectMeta immutable=4:b! data=2:{} binaryData=3:{by}',
  Secret: 'metadata=1:ObjectMeta immutable=5:b! data=2:{by} stringData=4:{} type=3',
  ServiceAccount:
    'metadata=1:ObjectMeta secrets=2:[ObjectReference] imagePullSecrets=3:[LocalObjectReference] ' +
    'automountServiceAccountToken=4:b!',
  ObjectReference: 'kind=1 namespace=2 name=3 uid=4 apiVersion=5 resourceVersion=6 fieldPath=7',
  LocalObjectReference: 'name=1',
  Binding: 'metadata=1:ObjectMeta target=2:ObjectReference',

  // core/v1 Service
  Service: 'metadata=1:ObjectMeta spec=2:ServiceSpec status=3:ServiceStatus',
  ServiceSpec:
    'ports=1:[ServicePort] selector=2:{} clusterIP=3 clusterIPs=18:[string] type=4 externalIPs=5:[string] ' +
    'sessionAffinity=7 loadBalancerIP=8 loadBalancerSourceRanges=9:[string] externalName=10 ' +
    'externalTrafficPolicy=11 healthCheckNodePort=12:i32 publishNotReadyAddresses=13:b ' +
    'sessionAffinityConfig=14:SessionAffinityConfig ipFamilies=19:[string] ipFamilyPolicy=17 ' +
    'allocateLoadBalancerNodePorts=20:b! loadBalancerClass=21 internalTrafficPolicy=22 trafficDistribution=23',
  ServicePort: 'name=1 protocol=2 appProtocol=6 port=3:i32! targetPort=4:IOS nodePort=5:i32',
  SessionAffinityConfig: 'clientIP=1:ClientIPConfig',
  ClientIPConfig: 'timeoutSeconds=1:i32!',
  ServiceStatus: 'loadBalancer=1:LoadBalancerStatus conditions=2:[Condition]',
  LoadBalancerStatus: 'ingress=1:[LoadBalancerIngress]',
  LoadBalancerIngress: 'ip=1 hostname=2 ipMode=3 ports=4:[PortStatus]',
  PortStatus: 'port=1:i32! protocol=2 error=3',

  // core/v1 Pod
  Pod: 'metadata=1:ObjectMeta spec=2:PodSpec status=3:PodStatus',
  PodSpec:
    'volumes=1:[Volume] initContainers=20:[Container] containers=2:[Container] ' +
    'ephemeralContainers=34:[EphemeralContainer] restartPolicy=3 terminationGracePeriodSeconds=4:i64! ' +
    'activeDeadlineSeconds=5:i64! dnsPolicy=6 nodeSelector=7:{} serviceAccountName=8 serviceAccount=9 ' +
    'automountServiceAccountToken=21:b! nodeName=10 hostNetwork=11:b hostPID=12:b hostIPC=13:b ' +
    'shareProcessNamespace=27:b! securityContext=14:PodSecurityContext imagePullSecrets=15:[LocalObjectReference] ' +
    'hostname=16 subdomain=17 affinity=18:Affinity schedulerName=19 tolerations=22:[Toleration] ' +
    'hostAliases=23:[HostAlias] priorityClassName=24 priority=25:i32! dnsConfig=26:PodDNSConfig ' +
    'readinessGates=28:[PodReadinessGate] runtimeClassName=29 enableServiceLinks=30:b! preemptionPolicy=31 ' +
    'overhead=32:{Q} topologySpreadConstraints=33:[TopologySpreadConstraint] setHostnameAsFQDN=35:b! ' +
    'os=36:PodOS hostUsers=37:b! schedulingGates=38:[PodSchedulingGate] resourceClaims=39:[PodResourceClaim] ' +
    'resources=40:ResourceRequirements',
  Volume: 'name=1 volumeSource=2:VolumeSource^',
  VolumeSource:
    'hostPath=1:HostPathVolumeSource emptyDir=2:EmptyDirVolumeSource gcePersistentDisk=3:GCEPersistentDiskVolumeSource ' +
    'awsElasticBlockStore=4:AWSElasticBlockStoreVolumeSource gitRepo=5:GitRepoVolumeSource secret=6:SecretVolumeSource ' +
    'nfs=7:NFSVolumeSource iscsi=8:ISCSIVolumeSource glusterfs=9:GlusterfsVolumeSource ' +
    'persistentVolumeClaim=10:PersistentVolumeClaimVolumeSource rbd=11:RBDVolumeSource flexVolume=12:FlexVolumeSource ' +
    'cinder=13:CinderVolumeSource cephfs=14:CephFSVolumeSource flocker=15:FlockerVolumeSource ' +
    'downwardAPI=16:DownwardAPIVolumeSource fc=17:FCVolumeSource azureFile=18:AzureFileVolumeSource ' +
    'configMap=19:ConfigMapVolumeSource vsphereVolume=20:VsphereVirtualDiskVolumeSource quobyte=21:QuobyteVolumeSource ' +
    'azureDisk=22:AzureDiskVolumeSource photonPersistentDisk=23:PhotonPersistentDiskVolumeSource ' +
    'projected=26:ProjectedVolumeSource portworxVolume=24:PortworxVolumeSource scaleIO=25:ScaleIOVolumeSource ' +
    'storageos=27:StorageOSVolumeSource csi=28:CSIVolumeSource ephemeral=29:EphemeralVolumeSource image=30:ImageVolumeSource',
  HostPathVolumeSource: 'path=1 type=2',
  EmptyDirVolumeSource: 'medium=1 sizeLimit=2:Q',
  GCEPersistentDiskVolumeSource: 'pdName=1 fsType=2 partition=3:i32 readOnly=4:b',
  AWSElasticBlockStoreVolumeSource: 'volumeID=1 fsType=2 partition=3:i32 readOnly=4:b',
  GitRepoVolumeSource: 'repository=1 revision=2 directory=3',
  SecretVolumeSource: 'secretName=1 items=2:[KeyToPath] defaultMode=3:i32! optional=4:b!',
  KeyToPath: 'key=1 path=2 mode=3:i32!',
  NFSVolumeSource: 'server=1 path=2 readOnly=3:b',
  ISCSIVolumeSource:
    'targetPortal=1 iqn=2 lun=3:i32! iscsiInterface=4 fsType=5 readOnly=6:b portals=7:[string] ' +
    'chapAuthDiscovery=8:b chapAuthSession=11:b secretRef=10:LocalObjectReference initiatorName=12',
  GlusterfsVolumeSource: 'endpoints=1 path=2 readOnly=3:b',
  PersistentVolumeClaimVolumeSource: 'claimName=1 readOnly=2:b',
  RBDVolumeSource:
    'monitors=1:[string] image=2 fsType=3 pool=4 user=5 keyring=6 secretRef=7:LocalObjectReference readOnly=8:b',
  FlexVolumeSource: 'driver=1 fsType=2 secretRef=3:LocalObjectReference readOnly=4:b options=5:{}',
  CinderVolumeSource: 'volumeID=1 fsType=2 readOnly=3:b secretRef=4:LocalObjectReference',
  CephFSVolumeSource:
    'monitors=1:[string] path=2 user=3 secretFile=4 secretRef=5:LocalObjectReference readOnly=6:b',
  FlockerVolumeSource: 'datasetName=1 datasetUUID=2',
  DownwardAPIVolumeSource: 'items=1:[DownwardAPIVolumeFile] defaultMode=2:i32!',
  DownwardAPIVolumeFile:
    'path=1 fieldRef=2:ObjectFieldSelector resourceFieldRef=3:ResourceFieldSelector mode=4:i32!',
  ObjectFieldSelector: 'apiVersion=1 fieldPath=2',
  ResourceFieldSelector: 'containerName=1 resource=2 divisor=3:Q',
  FCVolumeSource: 'targetWWNs=1:[string] lun=2:i32! fsType=3 readOnly=4:b wwids=5:[string]',
  AzureFileVolumeSource: 'secretName=1 shareName=2 readOnly=3:b',
  ConfigMapVolumeSource:
    'localObjectReference=1:LocalObjectReference^ items=2:[KeyToPath] defaultMode=3:i32! optional=4:b!',
  VsphereVirtualDiskVolumeSource: 'volumePath=1 fsType=2 storagePolicyName=3 storagePolicyID=4',
  QuobyteVolumeSource: 'registry=1 volume=2 readOnly=3:b user=4 group=5 tenant=6',
  AzureDiskVolumeSource: 'diskName=1 diskURI=2 cachingMode=3 fsType=4 readOnly=5:b! kind=6',
  PhotonPersistentDiskVolumeSource: 'pdID=1 fsType=2',
  ProjectedVolumeSource: 'sources=1:[VolumeProjection] defaultMode=2:i32!',
  VolumeProjection:
    'secret=1:SecretProjection downwardAPI=2:DownwardAPIProjection configMap=3:ConfigMapProjection ' +
    'serviceAccountToken=4:ServiceAccountTokenProjection clusterTrustBundle=5:ClusterTrustBundleProjection',
  SecretProjection: 'localObjectReference=1:LocalObjectReference^ items=2:[KeyToPath] optional=4:b!',
  DownwardAPIProjection: 'items=1:[DownwardAPIVolumeFile]',
  ConfigMapProjection: 'localObjectReference=1:LocalObjectReference^ items=2:[KeyToPath] optional=4:b!',
  ServiceAccountTokenProjection: 'audience=1 expirationSeconds=2:i64! path=3',
  ClusterTrustBundleProjection: 'name=1 signerName=2 labelSelector=3:LabelSelector optional=5:b! path=4',
  PortworxVolumeSource: 'volumeID=1 fsType=2 readOnly=3:b',
  ScaleIOVolumeSource:
    'gateway=1 system=2 secretRef=3:LocalObjectReference sslEnabled=4:b protectionDomain=5 storagePool=6 ' +
    'storageMode=7 volumeName=8 fsType=9 readOnly=10:b',
  StorageOSVolumeSource: 'volumeName=1 volumeNamespace=2 fsType=3 readOnly=4:b secretRef=5:LocalObjectReference',
  CSIVolumeSource:
    'driver=1 readOnly=2:b! fsType=3 volumeAttributes=4:{} nodePublishSecretRef=5:LocalObjectReference',
  EphemeralVolumeSource: 'volumeClaimTemplate=1:PersistentVolumeClaimTemplate',
  PersistentVolumeClaimTemplate: 'metadata=1:ObjectMeta spec=2:PersistentVolumeClaimSpec',
  PersistentVolumeClaimSpec:
    'accessModes=1:[string] selector=4:LabelSelector resources=2:VolumeResourceRequirements volumeName=3 ' +
    'storageClassName=5 volumeMode=6 dataSource=7:TypedLocalObjectReference dataSourceRef=8:TypedObjectReference ' +
    'volumeAttributesClassName=9',
  VolumeResourceRequirements: 'limits=1:{Q} requests=2:{Q}',
  TypedLocalObjectReference: 'apiGroup=1 kind=2 name=3',
  TypedObjectReference: 'apiGroup=1 kind=2 name=3 namespace=4',
  ImageVolumeSource: 'reference=1 pullPolicy=2',
  Container:
    'name=1 image=2 command=3:[string] args=4:[string] workingDir=5 ports=6:[ContainerPort] ' +
    'envFrom=19:[EnvFromSource] env=7:[EnvVar] resources=8:ResourceRequirements resizePolicy=23:[ContainerResizePolicy] ' +
    'restartPolicy=24 volumeMounts=9:[VolumeMount] volumeDevices=21:[VolumeDevice] livenessProbe=10:Probe ' +
    'readinessProbe=11:Probe startupProbe=22:Probe lifecycle=12:Lifecycle terminationMessagePath=13 ' +
    'terminationMessagePolicy=20 imagePullPolicy=14 securityContext=15:SecurityContext stdin=16:b stdinOnce=17:b tty=18:b',
  ContainerPort: 'name=1 hostPort=2:i32 containerPort=3:i32! protocol=4 hostIP=5',
  EnvFromSource: 'prefix=1 configMapRef=2:ConfigMapEnvSource secretRef=3:SecretEnvSource',
  ConfigMapEnvSource: 'localObjectReference=1:LocalObjectReference^ optional=2:b!',
  SecretEnvSource: 'localObjectReference=1:LocalObjectReference^ optional=2:b!',
  EnvVar: 'name=1 value=2 valueFrom=3:EnvVarSource',
  EnvVarSource:
    'fieldRef=1:ObjectFieldSelector resourceFieldRef=2:ResourceFieldSelector ' +
    'configMapKeyRef=3:ConfigMapKeySelector secretKeyRef=4:SecretKeySelector',
  ConfigMapKeySelector: 'localObjectReference=1:LocalObjectReference^ key=2 optional=3:b!',
  SecretKeySelector: 'localObjectReference=1:LocalObjectReference^ key=2 optional=3:b!',
  ResourceRequirements: 'limits=1:{Q} requests=2:{Q} claims=3:[ResourceClaim]',
  ResourceClaim: 'name=1 request=2',
  ContainerResizePolicy: 'resourceName=1 restartPolicy=2',
  VolumeMount: 'name=1 readOnly=2:b recursiveReadOnly=7 mountPath=3 subPath=4 mountPropagation=5 subPathExpr=6',
  VolumeDevice: 'name=1 devicePath=2',
  Probe:
    'handler=1:ProbeHandler^ initialDelaySeconds=2:i32 timeoutSeconds=3:i32 periodSeconds=4:i32 ' +
    'successThreshold=5:i32 failureThreshold=6:i32 terminationGracePeriodSeconds=7:i64!',
  ProbeHandler: 'exec=1:ExecAction httpGet=2:HTTPGetAction tcpSocket=3:TCPSocketAction grpc=4:GRPCAction',
  ExecAction: 'command=1:[string]',
  HTTPGetAction: 'path=1 port=2:IOS host=3 scheme=4 httpHeaders=5:[HTTPHeader]',
  HTTPHeader: 'name=1 value=2',
  TCPSocketAction: 'port=1:IOS host=2',
  GRPCAction: 'port=1:i32! service=2',
  Lifecycle: 'postStart=1:LifecycleHandler preStop=2:LifecycleHandler',
  LifecycleHandler: 'exec=1:ExecAction httpGet=2:HTTPGetAction tcpSocket=3:TCPSocketAction sleep=4:SleepAction',
  SleepAction: 'seconds=1:i64!',
  SecurityContext:
    'capabilities=1:Capabilities privileged=2:b! seLinuxOptions=3:SELinuxOptions ' +
    'windowsOptions=10:WindowsSecurityContextOptions runAsUser=4:i64! runAsGroup=8:i64! runAsNonRoot=5:b! ' +
    'readOnlyRootFilesystem=6:b! allowPrivilegeEscalation=7:b! procMount=9 seccompProfile=11:SeccompProfile ' +
    'appArmorProfile=12:AppArmorProfile',
  Capabilities: 'add=1:[string] drop=2:[string]',
  SELinuxOptions: 'user=1 role=2 type=3 level=4',
  WindowsSecurityContextOptions: 'gmsaCredentialSpecName=1 gmsaCredentialSpec=2 runAsUserName=3 hostProcess=4:b!',
  SeccompProfile: 'type=1 localhostProfile=2',
  AppArmorProfile: 'type=1 localhostProfile=2',
  EphemeralContainer: 'ephemeralContainerCommon=1:EphemeralContainerCommon^ targetContainerName=2',
  EphemeralContainerCommon: '=Container',
  PodSecurityContext:
    'seLinuxOptions=1:SELinuxOptions windowsOptions=8:WindowsSecurityContextOptions runAsUser=2:i64! ' +
    'runAsGroup=6:i64! runAsNonRoot=3:b! supplementalGroups=4:[i64] supplementalGroupsPolicy=12 fsGroup=5:i64! ' +
    'sysctls=7:[Sysctl] fsGroupChangePolicy=9 seccompProfile=10:SeccompProfile appArmorProfile=11:AppArmorProfile ' +
    'seLinuxChangePolicy=13',
  Sysctl: 'name=1 value=2',
  Affinity: 'nodeAffinity=1:NodeAffinity podAffinity=2:PodAffinity podAntiAffinity=3:PodAntiAffinity',
  NodeAffinity:
    'requiredDuringSchedulingIgnoredDuringExecution=1:NodeSelector ' +
    'preferredDuringSchedulingIgnoredDuringExecution=2:[PreferredSchedulingTerm]',
  NodeSelector: 'nodeSelectorTerms=1:[NodeSelectorTerm]',
  NodeSelectorTerm: 'matchExpressions=1:[NodeSelectorRequirement] matchFields=2:[NodeSelectorRequirement]',
  NodeSelectorRequirement: 'key=1 operator=2 values=3:[string]',
  PreferredSchedulingTerm: 'weight=1:i32! preference=2:NodeSelectorTerm',
  PodAffinity:
    'requiredDuringSchedulingIgnoredDuringExecution=1:[PodAffinityTerm] ' +
    'preferredDuringSchedulingIgnoredDuringExecution=2:[WeightedPodAffinityTerm]',
  PodAntiAffinity: '=PodAffinity',
  PodAffinityTerm:
    'labelSelector=1:LabelSelector namespaces=2:[string] topologyKey=3 namespaceSelector=4:LabelSelector ' +
    'matchLabelKeys=5:[string] mismatchLabelKeys=6:[string]',
  WeightedPodAffinityTerm: 'weight=1:i32! podAffinityTerm=2:PodAffinityTerm',
  Toleration: 'key=1 operator=2 value=3 effect=4 tolerationSeconds=5:i64!',
  HostAlias: 'ip=1 hostnames=2:[string]',
  PodDNSConfig: 'nameservers=1:[string] searches=2:[string] options=3:[PodDNSConfigOption]',
  PodDNSConfigOption: 'name=1 value=2',
  PodReadinessGate: 'conditionType=1',
  TopologySpreadConstraint:
    'maxSkew=1:i32! topologyKey=2 whenUnsatisfiable=3 labelSelector=4:LabelSelector minDomains=5:i32! ' +
    'nodeAffinityPolicy=6 nodeTaintsPolicy=7 matchLabelKeys=8:[string]',
  PodOS: 'name=1',
  PodSchedulingGate: 'name=1',
  PodResourceClaim: 'name=1 resourceClaimName=3 resourceClaimTemplateName=4',
  PodStatus:
    'phase=1 conditions=2:[PodCondition] message=3 reason=4 nominatedNodeName=11 hostIP=5 hostIPs=16:[HostIP] ' +
    'podIP=6 podIPs=12:[PodIP] startTime=7:Time initContainerStatuses=10:[ContainerStatus] ' +
    'containerStatuses=8:[ContainerStatus] qosClass=9 ephemeralContainerStatuses=13:[ContainerStatus] resize=14 ' +
    'resourceClaimStatuses=15:[PodResourceClaimStatus]',
  PodCondition: 'type=1 status=2 lastProbeTime=3:Time lastTransitionTime=4:Time reason=5 message=6',
  HostIP: 'ip=1',
  PodIP: 'ip=1',
  ContainerStatus:
    'name=1 state=2:ContainerState lastState=3:ContainerState ready=4:b! restartCount=5:i32! image=6 imageID=7 ' +
    'containerID=8 started=9:b! allocatedResources=10:{Q} resources=11:ResourceRequirements ' +
    'volumeMounts=12:[VolumeMountStatus] user=13:ContainerUser allocatedResourcesStatus=14:[ResourceStatus]',
  ContainerState:
    'waiting=1:ContainerStateWaiting running=2:ContainerStateRunning terminated=3:ContainerStateTerminated',
  ContainerStateWaiting: 'reason=1 message=2',
  ContainerStateRunning: 'startedAt=1:Time',
  ContainerStateTerminated:
    'exitCode=1:i32! signal=2:i32 reason=3 message=4 startedAt=5:Time finishedAt=6:Time containerID=7',
  VolumeMountStatus: 'name=1 mountPath=2 readOnly=3:b recursiveReadOnly=4',
  ContainerUser: 'linux=1:LinuxContainerUser',
  LinuxContainerUser: 'uid=1:i64! gid=2:i64! supplementalGroups=3:[i64]',
  ResourceStatus: 'name=1 resources=2:[ResourceHealth]',
  ResourceHealth: 'resourceID=1 health=2',
  PodResourceClaimStatus: 'name=1 resourceClaimName=2',

  // core/v1 PodTemplateSpec (the workloads' pod template), ReplicationController, PersistentVolumeClaim
  PodTemplateSpec: 'metadata=1:ObjectMeta spec=2:PodSpec',
  ReplicationController:
    'metadata=1:ObjectMeta spec=2:ReplicationControllerSpec status=3:ReplicationControllerStatus',
  ReplicationControllerSpec: 'replicas=1:i32! minReadySeconds=4:i32 selector=2:{} template=3:PodTemplateSpec',
  ReplicationControllerStatus:
    'replicas=1:i32! fullyLabeledReplicas=2:i32 readyReplicas=4:i32 availableReplicas=5:i32 ' +
    'observedGeneration=3:i64 conditions=6:[ReplicationControllerCondition]',
  ReplicationControllerCondition: '=ReplicaSetCondition',
  PersistentVolumeClaim:
    'metadata=1:ObjectMeta spec=2:PersistentVolumeClaimSpec status=3:PersistentVolumeClaimStatus',
  PersistentVolumeClaimStatus:
    'phase=1 accessModes=2:[string] capacity=3:{Q} conditions=4:[PersistentVolumeClaimCondition] ' +
    'allocatedResources=5:{Q} allocatedResourceStatuses=7:{} currentVolumeAttributesClassName=8! ' +
    'modifyVolumeStatus=9:ModifyVolumeStatus',
  PersistentVolumeClaimCondition:
    'type=1 status=2 lastProbeTime=3:Time lastTransitionTime=4:Time reason=5 message=6',
  ModifyVolumeStatus: 'targetVolumeAttributesClassName=1 status=2',

  // k8s.io/api/apps/v1 — Deployment, ReplicaSet, StatefulSet, DaemonSet.
  // (terminatingReplicas (1.33) and DeploymentSpec.podReplacementPolicy (later) are newer than kubectl 1.32;
  // the numbers are upstream's, so newer clients' bodies decode too.)
  Deployment: 'metadata=1:ObjectMeta spec=2:DeploymentSpec status=3:DeploymentStatus',
  DeploymentSpec:
    'replicas=1:i32! selector=2:LabelSelector template=3:PodTemplateSpec strategy=4:DeploymentStrategy ' +
    'minReadySeconds=5:i32 revisionHistoryLimit=6:i32! paused=7:b progressDeadlineSeconds=9:i32! ' +
    'podReplacementPolicy=10!',
  DeploymentStrategy: 'type=1 rollingUpdate=2:RollingUpdateDeployment',
  RollingUpdateDeployment: 'maxUnavailable=1:IOS! maxSurge=2:IOS!',
  DeploymentStatus:
    'observedGeneration=1:i64 replicas=2:i32 updatedReplicas=3:i32 readyReplicas=7:i32 availableReplicas=4:i32 ' +
    'unavailableReplicas=5:i32 terminatingReplicas=9:i32! conditions=6:[DeploymentCondition] collisionCount=8:i32!',
  DeploymentCondition: 'type=1 status=2 lastUpdateTime=6:Time lastTransitionTime=7:Time reason=4 message=5',
  ReplicaSet: 'metadata=1:ObjectMeta spec=2:ReplicaSetSpec status=3:ReplicaSetStatus',
  ReplicaSetSpec: 'replicas=1:i32! minReadySeconds=4:i32 selector=2:LabelSelector template=3:PodTemplateSpec',
  ReplicaSetStatus:
    'replicas=1:i32! fullyLabeledReplicas=2:i32 readyReplicas=4:i32 availableReplicas=5:i32 ' +
    'terminatingReplicas=7:i32! observedGeneration=3:i64 conditions=6:[ReplicaSetCondition]',
  ReplicaSetCondition: 'type=1 status=2 lastTransitionTime=3:Time reason=4 message=5',
  StatefulSet: 'metadata=1:ObjectMeta spec=2:StatefulSetSpec status=3:StatefulSetStatus',
  StatefulSetSpec:
    'replicas=1:i32! selector=2:LabelSelector template=3:PodTemplateSpec ' +
    'volumeClaimTemplates=4:[PersistentVolumeClaim] serviceName=5 podManagementPolicy=6 ' +
    'updateStrategy=7:StatefulSetUpdateStrategy revisionHistoryLimit=8:i32! minReadySeconds=9:i32 ' +
    'persistentVolumeClaimRetentionPolicy=10:StatefulSetPersistentVolumeClaimRetentionPolicy ' +
    'ordinals=11:StatefulSetOrdinals',
  StatefulSetUpdateStrategy: 'type=1 rollingUpdate=2:RollingUpdateStatefulSetStrategy',
  RollingUpdateStatefulSetStrategy: 'partition=1:i32! maxUnavailable=2:IOS!',
  StatefulSetPersistentVolumeClaimRetentionPolicy: 'whenDeleted=1 whenScaled=2',
  StatefulSetOrdinals: 'start=1:i32!',
  StatefulSetStatus:
    'observedGeneration=1:i64 replicas=2:i32! readyReplicas=3:i32 currentReplicas=4:i32 updatedReplicas=5:i32 ' +
    'currentRevision=6 updateRevision=7 collisionCount=9:i32! conditions=10:[StatefulSetCondition] ' +
    'availableReplicas=11:i32!',
  StatefulSetCondition: '=ReplicaSetCondition',
  DaemonSet: 'metadata=1:ObjectMeta spec=2:DaemonSetSpec status=3:DaemonSetStatus',
  DaemonSetSpec:
    'selector=1:LabelSelector template=2:PodTemplateSpec updateStrategy=3:DaemonSetUpdateStrategy ' +
    'minReadySeconds=4:i32 revisionHistoryLimit=6:i32!',
  DaemonSetUpdateStrategy: 'type=1 rollingUpdate=2:RollingUpdateDaemonSet',
  RollingUpdateDaemonSet: 'maxUnavailable=1:IOS! maxSurge=2:IOS!',
  DaemonSetStatus:
    'currentNumberScheduled=1:i32! numberMisscheduled=2:i32! desiredNumberScheduled=3:i32! numberReady=4:i32! ' +
    'observedGeneration=5:i64 updatedNumberScheduled=6:i32 numberAvailable=7:i32 numberUnavailable=8:i32 ' +
    'collisionCount=9:i32! conditions=10:[DaemonSetCondition]',
  DaemonSetCondition: '=ReplicaSetCondition',

  // k8s.io/api/batch/v1 — Job, CronJob
  Job: 'metadata=1:ObjectMeta spec=2:JobSpec status=3:JobStatus',
  JobSpec:
    'parallelism=1:i32! completions=2:i32! activeDeadlineSeconds=3:i64! podFailurePolicy=11:PodFailurePolicy ' +
    'successPolicy=16:SuccessPolicy backoffLimit=7:i32! backoffLimitPerIndex=12:i32! maxFailedIndexes=13:i32! ' +
    'selector=4:LabelSelector manualSelector=5:b! template=6:PodTemplateSpec ttlSecondsAfterFinished=8:i32! ' +
    'completionMode=9! suspend=10:b! podReplacementPolicy=14! managedBy=15!',
  PodFailurePolicy: 'rules=1:[PodFailurePolicyRule]',
  PodFailurePolicyRule:
    'action=1 onExitCodes=2:PodFailurePolicyOnExitCodesRequirement ' +
    'onPodConditions=3:[PodFailurePolicyOnPodConditionsPattern]',
  PodFailurePolicyOnExitCodesRequirement: 'containerName=1! operator=2 values=3:[i32]',
  PodFailurePolicyOnPodConditionsPattern: 'type=1 status=2',
  SuccessPolicy: 'rules=1:[SuccessPolicyRule]',
  SuccessPolicyRule: 'succeededIndexes=1! succeededCount=2:i32!',
  JobStatus:
    'conditions=1:[JobCondition] startTime=2:Time completionTime=3:Time active=4:i32 succeeded=5:i32 ' +
    'failed=6:i32 terminating=11:i32! completedIndexes=7 failedIndexes=10! ' +
    'uncountedTerminatedPods=8:UncountedTerminatedPods ready=9:i32!',
  JobCondition: 'type=1 status=2 lastProbeTime=3:Time lastTransitionTime=4:Time reason=5 message=6',
  UncountedTerminatedPods: 'succeeded=1:[string] failed=2:[string]',
  CronJob: 'metadata=1:ObjectMeta spec=2:CronJobSpec status=3:CronJobStatus',
  CronJobSpec:
    'schedule=1 timeZone=8! startingDeadlineSeconds=2:i64! concurrencyPolicy=3 suspend=4:b! ' +
    'jobTemplate=5:JobTemplateSpec successfulJobsHistoryLimit=6:i32! failedJobsHistoryLimit=7:i32!',
  JobTemplateSpec: 'metadata=1:ObjectMeta spec=2:JobSpec',
  CronJobStatus: 'active=1:[ObjectReference] lastScheduleTime=4:Time lastSuccessfulTime=5:Time',

  // k8s.io/api/policy/v1
  Eviction: 'metadata=1:ObjectMeta deleteOptions=2:DeleteOptions',
  PodDisruptionBudget:
    'metadata=1:ObjectMeta spec=2:PodDisruptionBudgetSpec status=3:PodDisruptionBudgetStatus',
  PodDisruptionBudgetSpec:
    'minAvailable=1:IOS! selector=2:LabelSelector maxUnavailable=3:IOS! unhealthyPodEvictionPolicy=4!',
  PodDisruptionBudgetStatus:
    'observedGeneration=1:i64 disruptedPods=2:{Time} disruptionsAllowed=3:i32! currentHealthy=4:i32! ' +
    'desiredHealthy=5:i32! expectedPods=6:i32! conditions=7:[Condition]',

  // k8s.io/api/authorization/v1
  SelfSubjectAccessReview:
    'metadata=1:ObjectMeta spec=2:SelfSubjectAccessReviewSpec status=3:SubjectAccessReviewStatus',
  SelfSubjectAccessReviewSpec: 'resourceAttributes=1:ResourceAttributes nonResourceAttributes=2:NonResourceAttributes',
  SubjectAccessReview: 'metadata=1:ObjectMeta spec=2:SubjectAccessReviewSpec status=3:SubjectAccessReviewStatus',
  LocalSubjectAccessReview: '=SubjectAccessReview',
  SubjectAccessReviewSpec:
    'resourceAttributes=1:ResourceAttributes nonResourceAttributes=2:NonResourceAttributes user=3 ' +
    'groups=4:[string] extra=5:{SL} uid=6',
  ResourceAttributes:
    'namespace=1 verb=2 group=3 version=4 resource=5 subresource=6 name=7 ' +
    'fieldSelector=8:FieldSelectorAttributes labelSelector=9:LabelSelectorAttributes',
  FieldSelectorAttributes: 'rawSelector=1 requirements=2:[FieldSelectorRequirement]',
  LabelSelectorAttributes: 'rawSelector=1 requirements=2:[LabelSelectorRequirement]',
  NonResourceAttributes: 'path=1 verb=2',
  SubjectAccessReviewStatus: 'allowed=1:b! denied=4:b reason=2 evaluationError=3',
  SelfSubjectRulesReview:
    'metadata=1:ObjectMeta spec=2:SelfSubjectRulesReviewSpec status=3:SubjectRulesReviewStatus',
  SelfSubjectRulesReviewSpec: 'namespace=1',
  SubjectRulesReviewStatus:
    'resourceRules=1:[ResourceRule] nonResourceRules=2:[NonResourceRule] incomplete=3:b! evaluationError=4',
  ResourceRule: 'verbs=1:[string] apiGroups=2:[string] resources=3:[string] resourceNames=4:[string]',
  NonResourceRule: 'verbs=1:[string] nonResourceURLs=2:[string]',

  // k8s.io/api/authentication/v1
  SelfSubjectReview: 'metadata=1:ObjectMeta status=2:SelfSubjectReviewStatus',
  SelfSubjectReviewStatus: 'userInfo=1:UserInfo',
  UserInfo: 'username=1 uid=2 groups=3:[string] extra=4:{SL}',
  TokenRequest: 'metadata=1:ObjectMeta spec=2:TokenRequestSpec status=3:TokenRequestStatus',
  TokenRequestSpec: 'audiences=1:[string] expirationSeconds=4:i64! boundObjectRef=3:BoundObjectReference',
  BoundObjectReference: 'kind=1 apiVersion=2 name=3 uid=4@uID',
  TokenRequestStatus: 'token=1 expirationTimestamp=2:Time',
  TokenReview: 'metadata=1:ObjectMeta spec=2:TokenReviewSpec status=3:TokenReviewStatus',
  TokenReviewSpec: 'token=1 audiences=2:[string]',
  TokenReviewStatus: 'authenticated=1:b user=2:UserInfo audiences=4:[string] error=3',
};

// ---------------------------------------------------------------------------------------------
// Parsed definitions
// ---------------------------------------------------------------------------------------------
export type ScalarType = 'string' | 'bool' | 'int32' | 'int64' | 'bytes';
export type SpecialType = 'Time' | 'MicroTime' | 'Quantity' | 'IntOrString' | 'FieldsV1' | 'StringList';
type ValueType =
  | { t: 'scalar'; s: ScalarType }
  | { t: 'special'; s: SpecialType }
  | { t: 'message'; name: string };

export interface FieldDef {
  json: string;
  no: number;
  value: ValueType;
  repeated: boolean;
  /** map<string, value> */
  map: boolean;
  keepZero: boolean;
  inline: boolean;
}

export interface MessageDef {
  name: string;
  fields: FieldDef[];
  byNumber: Map<number, FieldDef>;
}

const SCALARS: Record<string, ScalarType> = { string: 'string', b: 'bool', i32: 'int32', i64: 'int64', by: 'bytes' };
const SPECIALS: Record<string, SpecialType> = {
  Time: 'Time',
  MicroTime: 'MicroTime',
  Q: 'Quantity',
  IOS: 'IntOrString',
  FieldsV1: 'FieldsV1',
  SL: 'StringList',
};

function parseValueType(s: string): ValueType {
  if (s in SCALARS) return { t: 'scalar', s: SCALARS[s]! };
  if (s in SPECIALS) return { t: 'special', s: SPECIALS[s]! };
  if (!(s in DEFS)) throw new Error(`protobuf schema: unknown type ${s}`);
  return { t: 'message', name: s };
}

function parseFields(spec: string): FieldDef[] {
  const fields: FieldDef[] = [];
  for (const tok of spec.split(/\s+/).filter(Boolean)) {
    const m = /^(\w+)=(\d+)(?::([^!^@]+))?([!^]*)(?:@\w+)?$/.exec(tok);
    if (!m) throw new Error(`protobuf schema: bad field ${tok}`);
    let type = m[3] ?? 'string';
    let repeated = false;
    let map = false;
    if (type.startsWith('[')) {
      repeated = true;
      type = type.slice(1, -1);
    } else if (type.startsWith('{')) {
      map = true;
      type = type.slice(1, -1) || 'string';
    }
    fields.push({
      json: m[1]!,
      no: Number(m[2]),
      value: parseValueType(type),
      repeated,
      map,
      keepZero: m[4]!.includes('!'),
      inline: m[4]!.includes('^'),
    });
  }
  return fields;
}

const MESSAGES = new Map<string, MessageDef>();
export function message(name: string): MessageDef {
  let def = MESSAGES.get(name);
  if (def) return def;
  let spec = DEFS[name];
  if (spec === undefined) throw new Error(`protobuf schema: unknown message ${name}`);
  while (spec.startsWith('=')) spec = DEFS[spec.slice(1)]!; // an alias: the same fields
  const fields = parseFields(spec);
  def = { name, fields, byNumber: new Map(fields.map((f) => [f.no, f])) };
  MESSAGES.set(name, def);
  return def;
}

// Validate every definition once at load, so a typo in the table fails loudly and early.
for (const name of Object.keys(DEFS)) message(name);
