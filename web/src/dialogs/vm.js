// The New/Edit VM dialog: General, System and Resource Allocation tabs, the
// latter with "VirtIO-SCSI Enabled" (disabled, with the reason, when the OS
// or the cluster level cannot have it), I/O threads and multi-queue.
import { h, replace } from '../dom.js';
import { post, put } from '../api.js';
import { clusters, level, operatingSystems, versionOf } from '../cache.js';
import { virtioScsiAvailability } from '../rules.js';
import { check, field, form, group, input, modal, section, select, setDisabled, tabs } from '../ui.js';

const MiB = 2 ** 20;

export async function vmDialog({ vm, onDone }) {
  const [clMap, oses] = await Promise.all([clusters(), operatingSystems()]);
  const cls = [...clMap.values()];
  const editing = Boolean(vm);
  const name = input('vm-name', { value: vm ? vm.name : '' });
  const desc = input('vm-description', { value: (vm && vm.description) || '' });
  const cluster = select('vm-cluster', cls.map((c) => ({ value: c.id, label: `${c.name} (${versionOf(c)})` })), vm ? vm.cluster.id : (cls[0] || {}).id);
  if (editing) cluster.control.disabled = true;
  const os = select('vm-os', oses.map((o) => ({ value: o.name, label: o.description })), vm ? vm.os.type : 'other_linux');
  const memory = input('vm-memory', { type: 'number', min: 1, value: vm ? Math.round(vm.memory / MiB) : 1024 });
  const topo = vm && vm.cpu && vm.cpu.topology;
  const cpus = input('vm-cpus', { type: 'number', min: 1, value: topo ? topo.sockets * topo.cores * topo.threads : 1 });
  const kernel = input('vm-kernel', { value: (vm && vm.os.kernel) || '' });
  const initrd = input('vm-initrd', { value: (vm && vm.os.initrd) || '' });
  const cmdline = input('vm-cmdline', { value: (vm && vm.os.cmdline) || '' });
  const wasOn = vm ? vm.virtio_scsi && vm.virtio_scsi.enabled === 'true' : true;
  const vscsiBox = h('div');
  let vscsi = check('vm-virtio-scsi', 'VirtIO-SCSI Enabled', { checked: wasOn });
  const ioThreads = input('vm-iothreads', { type: 'number', min: 0, value: vm ? (vm.io && vm.io.threads) || 0 : 0 });
  const mqMode = vm ? (vm.virtio_scsi_multi_queues_enabled !== 'true' ? 'off' : vm.virtio_scsi_multi_queues ? 'custom' : 'auto') : 'auto';
  const mq = select('vm-multiqueue', [
    { value: 'off', label: 'Disabled' }, { value: 'auto', label: 'Automatic (one queue per vCPU)' }, { value: 'custom', label: 'Custom' }], mqMode);
  const queues = input('vm-queues', { type: 'number', min: 1, value: (vm && vm.virtio_scsi_multi_queues) || 1 });

  // Re-check VirtIO-SCSI whenever the OS or the cluster changes.
  async function recheck() {
    const cl = clMap.get(cluster.value);
    const [lvl, o] = [cl ? await level(versionOf(cl)).catch(() => null) : null, oses.find((x) => x.name === os.value)];
    const a = virtioScsiAvailability(o, lvl, versionOf(cl));
    const checked = a.ok ? vscsi.control.checked : false;
    vscsi = check('vm-virtio-scsi', 'VirtIO-SCSI Enabled', { checked, disabled: !a.ok, reason: a.reason || undefined, onchange: sync });
    replace(vscsiBox, vscsi);
    sync();
  }
  function sync() {
    const on = vscsi.control.checked;
    setDisabled(mq, !on);
    setDisabled(queues, !on || mq.value !== 'custom');
  }
  os.control.addEventListener('change', recheck);
  cluster.control.addEventListener('change', recheck);
  mq.control.addEventListener('change', sync);
  await recheck();

  const t = tabs([
    { id: 'general', title: 'General', render: () => form(field('Cluster', cluster), field('Operating System', os), field('Name', name), field('Description', desc)) },
    { id: 'system', title: 'System', render: () => form(field('Memory Size (MiB)', memory), field('Total Virtual CPUs', cpus)) },
    { id: 'resources', title: 'Resource Allocation', render: () => form(
      section('Storage Allocation',
        group('', vscsiBox),
        field('VirtIO-SCSI Multi Queues', mq, 'Spreads a VM\u2019s disk I/O over several queues; needs VirtIO-SCSI.'),
        field('Number of Queues', queues)),
      section('I/O Threads', field('Number of I/O Threads', ioThreads, '0: QEMU\u2019s main loop serves the disks.'))) },
    { id: 'boot', title: 'Boot Options', render: () => form(section('Linux Boot Options',
      field('Kernel path', kernel), field('Initrd path', initrd), field('Kernel parameters', cmdline))) },
  ]);

  modal({
    title: editing ? 'Edit Virtual Machine' : 'New Virtual Machine', id: 'vm-dialog', size: 'md', body: t.el,
    onOk: async () => {
      const on = vscsi.control.checked;
      const body = {
        name: name.value.trim(), description: desc.value,
        os: { type: os.value, kernel: kernel.value.trim(), initrd: initrd.value.trim(), cmdline: cmdline.value },
        memory: String(Number(memory.value) * MiB),
        cpu: { topology: { sockets: String(cpus.value), cores: '1', threads: '1' } },
        io: { threads: String(ioThreads.value || 0) },
        virtio_scsi: { enabled: String(on) },
      };
      if (on) {
        body.virtio_scsi_multi_queues_enabled = String(mq.value !== 'off');
        if (mq.value === 'custom') body.virtio_scsi_multi_queues = String(queues.value);
      }
      if (editing) await put(`/vms/${vm.id}`, body);
      else await post('/vms', { ...body, cluster: { id: cluster.value } });
      if (onDone) await onDone();
    },
  });
  t.select('general');
}
