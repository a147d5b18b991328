/**
 * Which BMC a node has and how to log in to it. A node's own row gives the
 * address (and optionally user and password); its group's row gives the
 * user and password its nodes share. Passwords go in sealed and come out
 * clear only for a driver call: what the API shows is `BmcView`.
 */
import { ImgsrvError } from '../../core/errors.ts';
import type { Store } from '../store/db.ts';
import type { BmcCredentials } from './driver.ts';
import type { SecretBox } from './secret-box.ts';

/** What the API, CLI and console may show of a node's BMC: never the password. */
export interface BmcView {
  driver: string;
  address: string;
  port: number | null;
  user: string | null;
  /** Where the user and password come from: the node's own row, its group's, or none yet. */
  login: 'node' | 'group' | 'none';
  passwordSet: boolean;
  updatedAt: number;
}

/** A node's BMC settings as given by an operator (undefined user/password: the group's). */
export interface NodeBmcInput {
  address: string;
  port?: number | undefined;
  user?: string | undefined;
  password?: string | undefined;
}

/** Node and group BMC credentials over the store, sealed by `box`. */
export class BmcCredentialStore {
  private readonly store: Store;
  private readonly box: SecretBox;
  constructor(store: Store, box: SecretBox) {
    this.store = store;
    this.box = box;
  }

  setNode(mac: string, i: NodeBmcInput): BmcView {
    const before = this.store.bmcs.node(mac);
    // A user given again without a password keeps the stored password only if the user is the same one.
    const kept = i.password === undefined && i.user !== undefined && before?.user === i.user ? before.secret : null;
    if (i.user === undefined && i.password !== undefined) throw new ImgsrvError('BAD_USAGE', 'a BMC password needs its user', { hint: 'give --user too' });
    if (i.user !== undefined && i.password === undefined && !kept) {
      throw new ImgsrvError('BAD_USAGE', `no password stored for BMC user ${i.user}`, { hint: 'give the password on stdin: --password-stdin' });
    }
    if (!this.store.nodes.get(mac)) this.store.nodes.record({ mac });
    this.store.bmcs.setNode({
      mac,
      driver: 'ipmi',
      address: i.address,
      port: i.port ?? null,
      user: i.user ?? null,
      secret: i.password !== undefined ? this.box.seal(i.password, `node:${mac}`) : kept,
    });
    return this.view(mac)!;
  }

  setGroup(name: string, user: string, password: string): void {
    this.store.bmcs.setGroup({ name, user, secret: this.box.seal(password, `group:${name}`) });
  }

  /** The node's BMC as it may be shown; undefined with none set. */
  view(mac: string): BmcView | undefined {
    const r = this.store.bmcs.node(mac);
    if (!r) return undefined;
    const g = r.user === null ? this.groupRow(mac) : undefined;
    const login = r.user !== null && r.secret ? 'node' : g ? 'group' : 'none';
    return { driver: r.driver, address: r.address, port: r.port, user: r.user ?? g?.user ?? null, login, passwordSet: login !== 'none', updatedAt: r.updatedAt };
  }

  /** Credentials for a driver call, password in clear; throws naming what is missing. */
  credentials(mac: string): BmcCredentials {
    const r = this.store.bmcs.node(mac);
    if (!r) throw new ImgsrvError('NOT_FOUND', `node ${mac} has no BMC`, { hint: `set one: \`imgsrv nodes bmc set ${mac} --address A --user U --password-stdin\`` });
    if (r.user !== null && r.secret) return { address: r.address, port: r.port ?? undefined, user: r.user, password: this.box.open(r.secret, `node:${mac}`) };
    const g = this.groupRow(mac);
    if (!g) throw new ImgsrvError('NOT_FOUND', `node ${mac}'s BMC has no user and password, nor has its group`, { hint: `\`imgsrv nodes bmc set ${mac} --address ${r.address} --user U --password-stdin\`` });
    return { address: r.address, port: r.port ?? undefined, user: g.user, password: this.box.open(g.secret, `group:${g.name}`) };
  }

  private groupOf(mac: string): string | null {
    return this.store.nodes.get(mac)?.group ?? null;
  }

  private groupRow(mac: string) {
    const g = this.groupOf(mac);
    return g ? this.store.bmcs.group(g) : undefined;
  }
}
