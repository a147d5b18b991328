/** The console shell: session, skip link, navigation, the live feed and the current view. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { currentSession, setUnauthorizedHandler, signOut } from './api.ts';
import { useLive } from './live.ts';
import { ROUTES, useRoute } from './router.ts';
import type { Session } from './types.ts';
import { ErrorText, messageOf } from './ui.tsx';
import { DeploymentView } from './views/deployment.tsx';
import { GroupsView } from './views/groups.tsx';
import { ImagesView } from './views/images.tsx';
import { NodesView } from './views/nodes.tsx';
import { SettingsView } from './views/settings.tsx';
import { SignIn } from './views/sign-in.tsx';

export function App() {
  const [session, setSession] = useState<Session | null | 'loading'>('loading');
  const [error, setError] = useState<string | null>(null);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const signedIn = session !== null && session !== 'loading';
  const live = useLive(signedIn, () => setSession(null));

  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    currentSession().then(setSession, (err: unknown) => {
      setError(messageOf(err));
      setSession(null);
    });
  }, []);

  const title = ROUTES.find((r) => r.path === route)?.title ?? '';
  useEffect(() => {
    document.title = signedIn ? `${title} · imgsrv` : 'Sign in · imgsrv';
  }, [title, signedIn]);

  if (session === 'loading') return <p class="loading">Loading…</p>;
  if (!signedIn) {
    return (
      <>
        <ErrorText error={error} />
        <SignIn onSignedIn={(s) => (setError(null), setSession(s))} />
      </>
    );
  }

  const skip = (e: Event) => {
    // The skip link must not change the hash: that is the router's.
    e.preventDefault();
    main.current?.focus();
  };
  const logout = async () => {
    try {
      await signOut();
    } catch {
      // Signed out locally either way; the cookie expires on its own.
    }
    setSession(null);
  };

  return (
    <>
      <a class="skip-link" href="#main" onClick={skip}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">imgsrv</span>
        <nav aria-label="Main">
          <ul>
            {ROUTES.map((r) => (
              <li key={r.path}>
                <a href={`#/${r.path}`} aria-current={r.path === route ? 'page' : undefined}>
                  {r.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`conn ${live.connected ? 'on' : 'off'}`} role="status">
          {live.connected ? 'Live' : 'Reconnecting…'}
        </span>
        <button type="button" class="sign-out" onClick={logout}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <h1>{title}</h1>
        {route === 'nodes' && <NodesView live={live} />}
        {route === 'images' && <ImagesView live={live} />}
        {route === 'deployment' && <DeploymentView live={live} />}
        {route === 'groups' && <GroupsView />}
        {route === 'settings' && <SettingsView />}
      </main>
    </>
  );
}
