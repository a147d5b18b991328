/**
 * The console keeps its own copy of the API's shapes (web/src/types.ts: the
 * browser bundle must not pull in server modules). This file makes `npm run
 * typecheck` fail when the two drift apart: every server shape must be
 * assignable to what the console reads. Types only; nothing here runs.
 */
import type * as Web from './web/src/types.ts';
import type { NodeView } from '../api/node-view.ts';
import type { HistorySample } from '../api/live.ts';
import type { imageRows } from '../api/routes/images.ts';
import type { CaptureView } from '../capture/manager.ts';
import type { LiveSettings } from '../live-settings.ts';
import type { GroupRecord } from '../store/groups.ts';
import type { SwarmView } from '../swarm/service.ts';

type Holds<T extends true> = T;
type Fits<Server, Console> = [Server] extends [Console] ? true : false;

export type ContractChecks = [
  Holds<Fits<NodeView, Web.NodeView>>,
  Holds<Fits<ReturnType<typeof imageRows>[number], Web.ImageSummary>>,
  Holds<Fits<CaptureView, Web.CaptureView>>,
  Holds<Fits<GroupRecord, Web.Group>>,
  Holds<Fits<LiveSettings, Web.Settings>>,
  Holds<Fits<HistorySample, Web.SwarmSample>>,
  Holds<Fits<Omit<SwarmView, 'peers'>, Web.SwarmView>>,
];
