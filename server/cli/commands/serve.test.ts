import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { parseSubnetFlag } from './serve.ts';

describe('serve --subnet', () => {
  it('turns one flag into one dhcp.subnets entry the schema checks', () => {
    const raw = parseSubnetFlag('198.18.1.0/24,range=198.18.1.100-198.18.1.200,router=198.18.1.1,dns=198.18.0.53+198.18.0.54,lease=900');
    expect(raw).toEqual({ subnet: '198.18.1.0/24', range: '198.18.1.100-198.18.1.200', router: '198.18.1.1', dns: ['198.18.0.53', '198.18.0.54'], leaseSeconds: 900 });
    expect(validateConfig({ dhcp: { subnets: [raw] } }).dhcp.subnets[0]).toMatchObject({ subnet: { address: '198.18.1.0', prefix: 24 }, leaseSeconds: 900 });
  });

  it('refuses a spec without the subnet first, or an unknown key', () => {
    expect(() => parseSubnetFlag('range=198.18.1.100-198.18.1.200')).toThrow(/must start with the subnet/);
    expect(() => parseSubnetFlag('198.18.1.0/24,gw=198.18.1.1')).toThrow(/"gw=198.18.1.1": expected range=/);
  });
});
