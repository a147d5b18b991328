/** The sign-in view: the admin password (or the admin token) in exchange for a session. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, signIn } from '../api.ts';
import type { Session } from '../types.ts';
import { ErrorText, messageOf } from '../ui.tsx';

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(password);
      setPassword('');
      onSignedIn(s);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Wrong password. Use the admin password or the admin token from the data directory.');
      else if (err instanceof ApiError && err.status === 429) setError(`Too many sign-in attempts: wait a minute, then try again. (${err.message})`);
      else setError(messageOf(err));
      input.current?.select();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in" tabIndex={-1}>
      <form class="card" onSubmit={submit} aria-describedby="sign-in-hint">
        <h1>imgsrv console</h1>
        <p id="sign-in-hint" class="hint">
          Sign in with the admin password (<code>imgsrv admin password</code>) or the admin token (<code>admin.token</code> in the data directory).
        </p>
        <label for="password">Admin password</label>
        <input
          id="password"
          ref={input}
          type="password"
          name="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby="sign-in-error"
        />
        <ErrorText id="sign-in-error" error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
