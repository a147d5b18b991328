/** Hash routes (#/nodes …): the server serves one page, and reloads keep the view. */
import { useEffect, useState } from 'preact/hooks';

/** The console's views, in navigation order. */
export const ROUTES = [
  { path: 'nodes', title: 'Nodes' },
  { path: 'images', title: 'Images' },
  { path: 'deployment', title: 'Deployment' },
  { path: 'groups', title: 'Groups' },
  { path: 'settings', title: 'Settings' },
] as const;

export type Route = (typeof ROUTES)[number]['path'];

function parse(hash: string, fallback: Route): Route {
  // Only "#/…" is a route: an in-page anchor (the skip link's "#main") keeps the current view.
  if (!hash.startsWith('#/')) return hash === '' ? 'nodes' : fallback;
  const path = hash.slice(2).split(/[/?]/)[0];
  return ROUTES.find((r) => r.path === path)?.path ?? 'nodes';
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parse(location.hash, 'nodes'));
  useEffect(() => {
    const on = () => setRoute((r) => parse(location.hash, r));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
