/**
 * Power drivers: what imgsrv asks of a node's BMC. One narrow interface (the
 * state, the four chassis actions, a one-time boot override) with one
 * implementation per protocol (ipmi.ts; Redfish would be another), so the
 * API and the re-image flow never know which protocol a node speaks.
 */

/** A chassis power state as the BMC reports it. */
export type PowerState = 'on' | 'off';

/** A chassis action: on, off (hard), cycle (off then on; on if it was off), reset (warm). */
export const POWER_ACTIONS = ['on', 'off', 'cycle', 'reset'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** Devices a one-time boot override can name. */
export type BootDevice = 'pxe' | 'disk';

/** How to reach one BMC. The password is here in clear only in memory, for the call. */
export interface BmcCredentials {
  /** Host name or IPv4 address of the BMC. */
  address: string;
  /** UDP port (IPMI: 623). */
  port?: number | undefined;
  user: string;
  password: string;
}

/** What a BMC answered to one request: the state (when asked), and its own words for the event log. */
export interface PowerAnswer {
  state?: PowerState;
  /** The BMC's answer as the tool printed it (one line, no secrets). */
  answer: string;
  /** Attempts it took (more than 1 after a busy BMC or a timeout). */
  attempts: number;
}

/** One BMC protocol. Every method throws an ImgsrvError with a BMC_* code on failure. */
export interface PowerDriver {
  readonly name: string;
  status(c: BmcCredentials): Promise<PowerAnswer>;
  power(c: BmcCredentials, action: PowerAction): Promise<PowerAnswer>;
  /** Boot from `device` at the next boot only (IPMI "chassis bootdev … options=efiboot" is not used: the firmware keeps its own mode). */
  bootOnce(c: BmcCredentials, device: BootDevice): Promise<PowerAnswer>;
}
