package apperr

type message struct {
	kind Kind
	text string
}

// Message keys. oVirt's keys keep oVirt's spelling so that logs and
// translations line up; govirt's own start with GOVIRT_.
const (
	VirtIOSCSIDisabled              = "CANNOT_PERFORM_ACTION_VIRTIO_SCSI_IS_DISABLED"
	CannotDisableVirtIOSCSI         = "CANNOT_DISABLE_VIRTIO_SCSI_PLUGGED_DISKS"
	VirtIOSCSINotForClusterLevel    = "VIRTIO_SCSI_INTERFACE_IS_NOT_AVAILABLE_FOR_CLUSTER_LEVEL"
	OSDoesNotSupportVirtIOSCSI      = "ACTION_TYPE_FAILED_ILLEGAL_OS_TYPE_DOES_NOT_SUPPORT_VIRTIO_SCSI"
	DiskInterfaceUnsupported        = "ACTION_TYPE_DISK_INTERFACE_UNSUPPORTED"
	SGIONotForImageDisk             = "SCSI_GENERIC_IO_IS_NOT_SUPPORTED_FOR_IMAGE_DISK"
	PassThroughNotForReadOnly       = "SCSI_PASSTHROUGH_IS_NOT_SUPPORTED_FOR_READ_ONLY_DISK"
	InterfaceNoReadOnly             = "ACTION_TYPE_FAILED_INTERFACE_DOES_NOT_SUPPORT_READ_ONLY_ATTR"
	ExceededMaxPCISlots             = "ACTION_TYPE_FAILED_EXCEEDED_MAX_PCI_SLOTS"
	ExceededMaxIDESlots             = "ACTION_TYPE_FAILED_EXCEEDED_MAX_IDE_SLOTS"
	ExceededMaxSATASlots            = "ACTION_TYPE_FAILED_EXCEEDED_MAX_SATA_SLOTS"
	ExceededMaxVirtIOSCSIDisks      = "ACTION_TYPE_FAILED_EXCEEDED_MAX_VIRTIO_SCSI_DISKS"
	VMIsNotDown                     = "ACTION_TYPE_FAILED_VM_IS_NOT_DOWN"
	VMIsNotRunning                  = "ACTION_TYPE_FAILED_VM_IS_NOT_RUNNING"
	VMIsRunning                     = "ACTION_TYPE_FAILED_VM_IS_RUNNING"
	HotPlugIDENotSupported          = "HOT_PLUG_IDE_DISK_IS_NOT_SUPPORTED"
	HotPlugInterfaceNotSupported    = "HOT_PLUG_DISK_INTERFACE_IS_NOT_SUPPORTED"
	HotPlugDiskIsNotUnplugged       = "HOT_PLUG_DISK_IS_NOT_UNPLUGGED"
	HotUnplugDiskIsNotPlugged       = "HOT_UNPLUG_DISK_IS_NOT_PLUGGED"
	SGIOIsFiltered                  = "ACTION_TYPE_FAILED_SGIO_IS_FILTERED"
	VMUsesSCSIReservation           = "ACTION_TYPE_FAILED_VM_USES_SCSI_RESERVATION"
	UserNotAuthorized               = "USER_NOT_AUTHORIZED_TO_PERFORM_ACTION"
	NotAuthenticated                = "GOVIRT_NOT_AUTHENTICATED"
	ObjectNotFound                  = "ACTION_TYPE_FAILED_OBJECT_DOES_NOT_EXIST"
	NameAlreadyUsed                 = "ACTION_TYPE_FAILED_NAME_ALREADY_USED"
	NameInvalid                     = "ACTION_TYPE_FAILED_NAME_MAY_NOT_CONTAIN_SPECIAL_CHARS"
	DiskAlreadyAttached             = "ACTION_TYPE_FAILED_DISK_ALREADY_ATTACHED_TO_VM"
	DiskNotShareable                = "ACTION_TYPE_FAILED_DISK_IS_NOT_SHAREABLE_AND_ALREADY_ATTACHED"
	DiskNotAttached                 = "ACTION_TYPE_FAILED_DISK_NOT_ATTACHED_TO_VM"
	DiskIsLocked                    = "ACTION_TYPE_FAILED_DISKS_LOCKED"
	DiskIsAttached                  = "ACTION_TYPE_FAILED_DISK_IS_ATTACHED_TO_VMS"
	ShareableNotForCow              = "SHAREABLE_DISK_IS_NOT_SUPPORTED_BY_VOLUME_FORMAT"
	BadParameter                    = "GOVIRT_BAD_PARAMETER"
	ClusterLevelUnsupported         = "ACTION_TYPE_FAILED_GIVEN_VERSION_NOT_SUPPORTED"
	ClusterNotEmpty                 = "ACTION_TYPE_FAILED_CLUSTER_IS_NOT_EMPTY"
	DataCenterNotEmpty              = "ACTION_TYPE_FAILED_DATA_CENTER_IS_NOT_EMPTY"
	StorageDomainNotEmpty           = "ACTION_TYPE_FAILED_STORAGE_DOMAIN_NOT_EMPTY"
	HostHasRunningVMs               = "ACTION_TYPE_FAILED_HOST_HAS_RUNNING_VMS"
	NoUpHost                        = "ACTION_TYPE_FAILED_NO_UP_HOST_IN_CLUSTER"
	HostCallFailed                  = "GOVIRT_HOST_CALL_FAILED"
	OnlyOneBootDisk                 = "ACTION_TYPE_FAILED_DISK_BOOT_IN_USE"
	IOThreadsInvalid                = "ACTION_TYPE_FAILED_NUM_OF_IOTHREADS_INVALID"
	MultiQueuesInvalid              = "ACTION_TYPE_FAILED_VIRTIO_SCSI_MULTI_QUEUES_INVALID"
	ReservationNeedsSCSIPassThrough = "ACTION_TYPE_FAILED_SCSI_RESERVATION_NOT_VALID_FOR_FLOATING_DISK"
	LUNInUse                        = "ACTION_TYPE_FAILED_DISK_LUN_IS_ALREADY_IN_USE"
	CandidateHostNotUp              = "ACTION_TYPE_FAILED_CANDIDATE_HOST_IS_NOT_IN_UP_STATUS"
	SCSIPolicyInvalid               = "GOVIRT_SCSI_POLICY_INVALID"
	SCSIPolicyInUse                 = "GOVIRT_SCSI_POLICY_IN_USE"
	SCSIPolicyNeedsPassThrough      = "GOVIRT_SCSI_POLICY_NEEDS_PASS_THROUGH"
	ReservationNeedsPolicy          = "GOVIRT_SCSI_RESERVATION_NEEDS_POLICY"
	HostSecretMismatch              = "GOVIRT_HOST_BOOTSTRAP_SECRET_MISMATCH"
	HostUnreachable                 = "GOVIRT_HOST_UNREACHABLE"
	HostAlreadyAdded                = "GOVIRT_HOST_ALREADY_ADDED"
	VMStatusIllegal                 = "ACTION_TYPE_FAILED_VM_STATUS_ILLEGAL"
	HostStatusIllegal               = "ACTION_TYPE_FAILED_VDS_STATUS_ILLEGAL"
	MigrationToSameHost             = "ACTION_TYPE_FAILED_MIGRATION_TO_SAME_HOST"
	MigrateBetweenClusters          = "ACTION_TYPE_FAILED_MIGRATE_BETWEEN_TWO_CLUSTERS"
	MigrationNoDestination          = "GOVIRT_MIGRATION_NO_DESTINATION"
	MigrationStorageNotShared       = "GOVIRT_MIGRATION_STORAGE_NOT_SHARED"
)

var catalogue = map[string]message{
	VirtIOSCSIDisabled:           {KindConflict, "Cannot ${action} ${type}. VirtIO-SCSI is disabled for the VM"},
	CannotDisableVirtIOSCSI:      {KindConflict, "Cannot disable VirtIO-SCSI when disks with a VirtIO-SCSI interface are plugged into the VM."},
	VirtIOSCSINotForClusterLevel: {KindNotSupported, "Virtio-SCSI interface is only available on cluster level 3.3 or higher."},
	OSDoesNotSupportVirtIOSCSI:   {KindBadParameter, "Cannot ${action} ${type}. The guest OS doesn't support VirtIO-SCSI: ${osName}."},
	DiskInterfaceUnsupported:     {KindBadParameter, "Cannot ${action} ${type}: The disk interface is not supported by the VM OS: ${osName}."},
	SGIONotForImageDisk:          {KindBadParameter, "Cannot ${action} ${type}. SCSI Generic IO is not supported for image disk."},
	PassThroughNotForReadOnly:    {KindBadParameter, "Cannot ${action} ${type}. SCSI device pass-through is not supported for a read-only disk."},
	InterfaceNoReadOnly:          {KindBadParameter, "Cannot ${action} ${type}. The disk interface ${interface} does not support read-only."},
	ExceededMaxPCISlots:          {KindConflict, "Cannot ${action} ${type}. Maximum PCI devices exceeded."},
	ExceededMaxIDESlots:          {KindConflict, "Cannot ${action} ${type}. Maximum IDE devices exceeded."},
	ExceededMaxSATASlots:         {KindConflict, "Cannot ${action} ${type}. Maximum SATA devices exceeded."},
	ExceededMaxVirtIOSCSIDisks:   {KindConflict, "Cannot ${action} ${type}. Maximum VirtIO-SCSI devices exceeded."},
	VMIsNotDown:                  {KindConflict, "Cannot ${action} ${type}. At least one of the VMs is not down."},
	VMIsNotRunning:               {KindConflict, "Cannot ${action} ${type}. VM is not running."},
	VMIsRunning:                  {KindConflict, "Cannot ${action} ${type}. VM is running."},
	HotPlugIDENotSupported:       {KindBadParameter, "Cannot ${action} ${type}. Hot plugging of IDE disks is not supported."},
	HotPlugInterfaceNotSupported: {KindBadParameter, "Cannot ${action} ${type}. Hot plugging is not supported for disks with the ${interface} interface."},
	HotPlugDiskIsNotUnplugged:    {KindConflict, "Cannot ${action} ${type}. Disk is already activated."},
	HotUnplugDiskIsNotPlugged:    {KindConflict, "Cannot ${action} ${type}. Disk is already deactivated."},
	SGIOIsFiltered:               {KindConflict, "Cannot ${action} ${type}. SCSI reservation requires unfiltered SCSI Generic IO."},
	VMUsesSCSIReservation:        {KindConflict, "Cannot ${action} ${type}. The VM uses SCSI reservation."},
	UserNotAuthorized:            {KindNoPermission, "Cannot ${action} ${type}. User is not authorized to perform this action."},
	NotAuthenticated:             {KindNoAuthentication, "Authentication required."},
	ObjectNotFound:               {KindNotFound, "Cannot ${action} ${type}. The ${type} ${id} does not exist."},
	NameAlreadyUsed:              {KindConflict, "Cannot ${action} ${type}. The name ${name} is already in use."},
	NameInvalid:                  {KindBadParameter, "Cannot ${action} ${type}. The name must be 1 to 255 characters: letters, digits, '_', '-' and '.'."},
	DiskAlreadyAttached:          {KindConflict, "Cannot ${action} ${type}. The disk is already attached to the VM."},
	DiskNotShareable:             {KindConflict, "Cannot ${action} ${type}. The disk is not shareable and is already attached to another VM."},
	DiskNotAttached:              {KindNotFound, "Cannot ${action} ${type}. The disk is not attached to the VM."},
	DiskIsLocked:                 {KindConflict, "Cannot ${action} ${type}. Disk ${diskAlias} is locked. Please try again in a few minutes."},
	DiskIsAttached:               {KindConflict, "Cannot ${action} ${type}. The disk is attached to VMs: ${vms}."},
	ShareableNotForCow:           {KindBadParameter, "Cannot ${action} ${type}. Shareable disks must use the raw format."},
	BadParameter:                 {KindBadParameter, "Cannot ${action} ${type}. ${detail}"},
	ClusterLevelUnsupported:      {KindBadParameter, "Cannot ${action} ${type}. Compatibility version ${version} is not supported."},
	ClusterNotEmpty:              {KindConflict, "Cannot ${action} ${type}. The cluster still has ${what}."},
	DataCenterNotEmpty:           {KindConflict, "Cannot ${action} ${type}. The data center still has ${what}."},
	StorageDomainNotEmpty:        {KindConflict, "Cannot ${action} ${type}. The storage domain still holds disks."},
	HostHasRunningVMs:            {KindConflict, "Cannot ${action} ${type}. The host runs VMs."},
	NoUpHost:                     {KindConflict, "Cannot ${action} ${type}. There is no host in status up in the VM's cluster."},
	HostCallFailed:               {KindConflict, "Cannot ${action} ${type}. The host failed: ${detail}"},
	OnlyOneBootDisk:              {KindConflict, "Cannot ${action} ${type}. The VM already has a bootable disk."},
	IOThreadsInvalid:             {KindBadParameter, "Cannot ${action} ${type}. The number of I/O threads must be between 0 and ${max}."},
	MultiQueuesInvalid:           {KindBadParameter, "Cannot ${action} ${type}. VirtIO-SCSI multi-queues must be -1 (automatic), 0 (off) or 1 to ${max}."},
	LUNInUse:                     {KindConflict, "Cannot ${action} ${type}. The LUN is already in use by another disk."},
	HostSecretMismatch: {KindBadParameter,
		"Cannot ${action} ${type}. The bootstrap secret (root_password) does not match the one the agent printed, or something between the engine and the agent is not the agent."},
	SCSIPolicyInvalid:          {KindBadParameter, "Cannot ${action} ${type}. ${detail}"},
	SCSIPolicyInUse:            {KindConflict, "Cannot ${action} ${type}. Disks use the policy: ${diskAliases}."},
	SCSIPolicyNeedsPassThrough: {KindBadParameter, "Cannot ${action} ${type}. A SCSI command policy applies only to a direct LUN (it turns SCSI pass-through on)."},
	ReservationNeedsPolicy: {KindConflict,
		"Cannot ${action} ${type}. SCSI reservation needs a SCSI command policy that admits PERSISTENT RESERVE IN and OUT (unfiltered, or a custom policy such as reservations); disk ${diskAlias} has ${policy}."},
	CandidateHostNotUp: {KindConflict, "Cannot ${action} ${type}. None of the hosts it may run on is up in its cluster."},
	HostUnreachable:    {KindConflict, "Cannot ${action} ${type}. The agent at ${address} cannot be enrolled or reached: ${detail}"},
	HostAlreadyAdded:   {KindConflict, "Cannot ${action} ${type}. The agent at ${address} is already host ${name}."},
	ReservationNeedsSCSIPassThrough: {KindBadParameter,
		"Cannot ${action} ${type}. SCSI reservation needs a direct LUN with SCSI pass-through on the VirtIO-SCSI interface."},
	VMStatusIllegal:        {KindConflict, "Cannot ${action} ${type} because the VM is in ${vmStatus} status."},
	HostStatusIllegal:      {KindConflict, "Cannot ${action} ${type}. Operation can be performed only when Host status is ${hostStatus}."},
	MigrationToSameHost:    {KindConflict, "Cannot ${action} ${type}. source and destination is the same."},
	MigrateBetweenClusters: {KindConflict, "Cannot ${action} ${type}. VM can be migrated only between Hosts in the same Cluster."},
	MigrationNoDestination: {KindConflict, "Cannot ${action} ${type}. No other host in status up in the VM's cluster can take it."},
	MigrationStorageNotShared: {KindConflict,
		"Cannot ${action} ${type}. Host ${host} does not reach the VM's disks at the same path (storage domains must be shared by every host of the data center): ${detail}"},
}
