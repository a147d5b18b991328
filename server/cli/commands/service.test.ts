import { describe, expect, it } from 'vitest';
import { renderUnit } from './service.ts';

describe('systemd unit', () => {
  it('restarts the server always and starts after the network', () => {
    const unit = renderUnit({ bin: '/opt/imgsrv/bin/imgsrv', data: '/var/lib/imgsrv', config: '/etc/imgsrv.yaml', interface: 'eth1' });
    expect(unit).toContain('ExecStart=/opt/imgsrv/bin/imgsrv serve --data /var/lib/imgsrv --config /etc/imgsrv.yaml --interface eth1\n');
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('After=network-online.target');
    expect(unit).toContain('WantedBy=multi-user.target');
  });
  it.each(['/var/lib/my data', '/var/lib/%h', '/var/$HOME', "/var/'x'"])('refuses %j in ExecStart', (data) => {
    expect(() => renderUnit({ bin: '/opt/imgsrv/bin/imgsrv', data })).toThrow(/cannot put .* in a systemd unit/);
  });
});
