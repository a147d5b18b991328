import { describe, expect, it } from 'vitest';
import { moduleName, parseModulesDep, resolveModules, subsetModulesAlias, subsetModulesDep } from './modules.ts';

// Lines as depmod writes them for Debian's 6.1 kernel.
const DEP = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/mdio_devres.ko kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/mdio_devres.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/foo/some-thing.ko.xz:
`;

describe('modules.dep', () => {
  const dep = parseModulesDep(DEP);

  it('names modules like the kernel does', () => {
    expect(moduleName('kernel/drivers/foo/some-thing.ko.xz')).toBe('some_thing');
    expect(moduleName('kernel/drivers/net/virtio_net.ko')).toBe('virtio_net');
  });

  it('puts every dependency before its user', () => {
    const { loadOrder, missing } = resolveModules(dep, ['virtio_net', 'r8169', 'mlx5_core', 'some-thing']);
    expect(missing).toEqual(['mlx5_core']);
    const idx = (n: string): number => loadOrder.findIndex((p) => moduleName(p) === n);
    for (const [path, deps] of dep) {
      if (!loadOrder.includes(path)) continue;
      for (const d of deps) expect(idx(moduleName(d))).toBeLessThan(idx(moduleName(path)));
    }
    expect(loadOrder).toHaveLength(new Set(loadOrder).size);
    expect(loadOrder).toContain('kernel/drivers/foo/some-thing.ko.xz');
    expect(loadOrder.at(-1)).toBe('kernel/drivers/foo/some-thing.ko.xz');
  });

  it('writes subsets that only mention shipped modules', () => {
    const { loadOrder } = resolveModules(dep, ['e1000', 'r8169']);
    expect(subsetModulesDep(dep, loadOrder).split('\n').filter(Boolean)).toEqual([
      'kernel/drivers/net/ethernet/intel/e1000/e1000.ko:',
      'kernel/drivers/net/phy/libphy.ko:',
      'kernel/drivers/net/phy/mdio_devres.ko: kernel/drivers/net/phy/libphy.ko',
      'kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/mdio_devres.ko kernel/drivers/net/phy/libphy.ko',
    ]);
    const alias = '# comment\nalias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\nalias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n';
    expect(subsetModulesAlias(alias, loadOrder)).toBe('alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\n');
  });
});
