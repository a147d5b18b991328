/** Shapes of the imgsrv API (/api/v1) as the console reads them; see the API docs at /docs. */

import type { NodePhase, NodeSwarmReport } from '../../../../contract/report.ts';

/** The node phases, from the one contract the node and the server share. */
export type Phase = NodePhase;

/** A node's latest swarm report (contract/report.ts) and when it came. */
export type NodeSwarm = NodeSwarmReport & { at: number };

/** One node of the inventory (GET /nodes, `nodes` live event). */
export interface NodeView {
  mac: string;
  ip: string | null;
  firmware: 'bios' | 'uefi' | null;
  arch: number | null;
  hostname: string | null;
  phase: Phase;
  kernel: string | null;
  firstSeen: number;
  lastSeen: number;
  install: 'none' | 'pending' | 'installing' | 'installed' | 'failed';
  image: string | null;
  installedImage: string | null;
  error: string | null;
  seq: number | null;
  group: string | null;
  retired: null | { at: number; wipe: boolean };
  swarm?: NodeSwarm;
  restore?: { written: number; total: number };
}

/** One image version (GET /images, `images` live event). */
export interface ImageSummary {
  name: string;
  version: number;
  size: number;
  compressedSize: number;
  sha256: string;
  files: number;
  sourceHost: string;
  createdAt: string;
  zstdLevel: number;
  inUse: boolean;
  /** The key id that signed this version, or null when unsigned. */
  signedBy: string | null;
  /** How the last verification ended; `problems` lists what did not match. */
  verification: null | { ok: boolean; at: number; problems: string[] };
}

/** A capture job (GET /captures, `captures` live event). */
export interface CaptureView {
  id: string;
  name: string;
  source: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  phase: string | null;
  version: number | null;
  error: string | null;
  startedAt: number;
  finishedAt: number | null;
  progress: null | { phase: string; bytes: number; totalBytes?: number | undefined; bytesPerSecond: number; etaSeconds?: number | undefined; files?: number | undefined; mount?: string | undefined };
}

/** GET /deploy. */
export interface DeployView {
  image: string | null;
  resolved: { name: string; version: number } | null;
  problem?: string | null;
  keep: string[];
}

/** A configuration group (GET /groups). */
export interface Group {
  name: string;
  image: string | null;
  hostnamePattern: string | null;
  keep: string[] | null;
  kernelArgs: string[];
  targetDisk: string | null;
  promptTimeout: number | null;
  nodes: number;
}

/** A DHCP reservation. */
export interface Reservation {
  mac: string;
  ip: string;
  hostname?: string;
}

/** GET /settings. */
export interface Settings {
  dhcp: { mode: 'full' | 'proxy' | 'off'; range: string | null; reservations: Reservation[] };
  boot: { mode: 'http' | 'tftp' };
  nodes: { hostnamePattern: string; defaultGroup: string | null };
}

/** One point of the swarm history: cumulative bytes uploaded by the server and by the nodes. */
export interface SwarmSample {
  at: number;
  server: number;
  peers: number;
}

/** One image version's swarm (GET /swarm). */
export interface SwarmView {
  image: string;
  version: number;
  infoHash: string;
  length: number;
  seeders: number;
  leechers: number;
  done: boolean;
  server: { uploaded: number; uploadSpeed: number; peers: number };
  nodes: Array<{ mac: string; progress: number; downloaded: number; uploaded: number }>;
}

/** The `swarm` live event. */
export interface SwarmEvent extends SwarmSample {
  swarms: SwarmView[];
}

/** The session (POST/GET /session). */
export interface Session {
  user: string;
  csrfToken: string;
  expiresAt: number;
}
