/**
 * What a node tells the server: `POST /api/v1/nodes/report` with its phase
 * and progress. The phases and the report body are defined once here; the
 * server's schema (server/api/routes/nodes.ts) is built from them and the
 * node's reporter (initramfs-client/client/api.ts) sends exactly this shape.
 */

/**
 * Phases a node moves through: `discovered` is the server's (DHCP or iPXE saw
 * it); every other one a node reports. `rebooting`: restored and seeded, on
 * its way into the restored system; `done` comes from that system once it
 * is up (or, for an image whose init imgsrv can't hook, before the reboot).
 */
export const NODE_PHASES = ['discovered', 'booted', 'downloading', 'restoring', 'personalising', 'seeding', 'rebooting', 'done', 'failed', 'retired'] as const;
export type NodePhase = (typeof NODE_PHASES)[number];

/** The phases a node reports itself; `retired` once a retired node's disk is wiped. */
export type ReportedPhase = Exclude<NodePhase, 'discovered'>;

/** The `swarm` object of a report: the node's view of its download. */
export interface NodeSwarmReport {
  infoHash: string;
  downloaded: number;
  uploaded: number;
  peers: number;
  /** 0…1 */
  progress: number;
  downloadSpeed: number;
  uploadSpeed: number;
}

/**
 * How far the node's restore trails its download (the in-order reader
 * behind the swarm; torrent/stream-lag.ts keeps the figures).
 */
export interface NodeLagReport {
  /** Bytes downloaded and verified that the restore has not yet taken, now. */
  backlog: number;
  /** The largest backlog so far. */
  maxBacklog: number;
  /** The backlog when the download ended; null until it did. */
  atDownloadEnd: number | null;
  /** Seconds from the download's end to the restore's end; null until both ended. */
  seconds: number | null;
}

/** The report body. */
export interface NodeReport {
  mac: string;
  ip?: string;
  arch?: string;
  firmware?: 'bios' | 'uefi';
  kernel?: string;
  phase?: NodePhase;
  /** A failure's step and output, or a line of progress; at most 8 KiB. */
  message?: string;
  /** The hostname the node took (prompted or assigned); kept so a re-image runs unattended. */
  hostname?: string;
  swarm?: NodeSwarmReport;
  /** Restore progress: bytes written to disk and the image's size. */
  restore?: { written: number; total: number };
  /** How far the restore trails the download. */
  lag?: NodeLagReport;
}

/** Longest report message the server accepts. */
export const REPORT_MESSAGE_MAX = 8192;
