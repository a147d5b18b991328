/** Settings: DHCP, boot and node defaults, applied by the server without a restart. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import type { Group, Reservation, Settings } from '../types.ts';
import { ErrorText, StatusText, useAction, useLoad } from '../ui.tsx';

function Radios<T extends string>(props: { legend: string; name: string; value: T; options: Array<[T, string]>; onChange: (v: T) => void }) {
  return (
    <fieldset class="radios">
      <legend>{props.legend}</legend>
      {props.options.map(([v, label]) => (
        <label key={v} class="check">
          <input type="radio" name={props.name} value={v} checked={props.value === v} onChange={() => props.onChange(v)} />
          {label}
        </label>
      ))}
    </fieldset>
  );
}

function Reservations({ rows, onChange }: { rows: Reservation[]; onChange: (rows: Reservation[]) => void }) {
  const update = (i: number, k: keyof Reservation, v: string) => onChange(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  return (
    <fieldset>
      <legend>Reservations</legend>
      {rows.length === 0 && <p class="muted">No reservations.</p>}
      <ul class="reservations">
        {rows.map((r, i) => (
          <li key={i} class="row-form">
            <div class="field">
              <label for={`res-mac-${i}`}>MAC</label>
              <input id={`res-mac-${i}`} required value={r.mac} onInput={(e) => update(i, 'mac', e.currentTarget.value)} spellcheck={false} size={17} />
            </div>
            <div class="field">
              <label for={`res-ip-${i}`}>IP address</label>
              <input id={`res-ip-${i}`} required value={r.ip} onInput={(e) => update(i, 'ip', e.currentTarget.value)} spellcheck={false} size={15} />
            </div>
            <div class="field">
              <label for={`res-host-${i}`}>Hostname (optional)</label>
              <input id={`res-host-${i}`} value={r.hostname ?? ''} onInput={(e) => update(i, 'hostname', e.currentTarget.value)} spellcheck={false} size={14} />
            </div>
            <button type="button" class="small danger" onClick={() => onChange(rows.filter((_, j) => j !== i))}>
              Remove<span class="visually-hidden"> reservation {i + 1}</span>
            </button>
          </li>
        ))}
      </ul>
      <button type="button" class="small" onClick={() => onChange([...rows, { mac: '', ip: '', hostname: '' }])}>
        Add reservation
      </button>
    </fieldset>
  );
}

/** The PUT body: blank optional fields become null / absent. */
function toBody(s: Settings): Settings {
  return {
    dhcp: {
      mode: s.dhcp.mode,
      range: s.dhcp.range?.trim() ? s.dhcp.range.trim() : null,
      reservations: s.dhcp.reservations.map((r) => ({ mac: r.mac.trim(), ip: r.ip.trim(), ...(r.hostname?.trim() ? { hostname: r.hostname.trim() } : {}) })),
    },
    boot: { mode: s.boot.mode },
    nodes: { hostnamePattern: s.nodes.hostnamePattern.trim(), defaultGroup: s.nodes.defaultGroup || null },
  };
}

export function SettingsView() {
  const loaded = useLoad(() => api<Settings>('GET', '/settings'));
  const groups = useLoad(() => api<Group[]>('GET', '/groups'));
  const [s, setS] = useState<Settings | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const action = useAction();
  useEffect(() => {
    if (loaded.data) setS(loaded.data);
  }, [loaded.data]);

  if (!s) return <ErrorText error={loaded.error} />;
  const submit = async (e: Event) => {
    e.preventDefault();
    setStatus(null);
    const saved = await action.run(() => api<Settings>('PUT', '/settings', toBody(s)));
    if (saved) {
      setS(saved);
      setStatus('Settings saved and applied.');
    }
  };

  return (
    <form class="settings" onSubmit={submit} aria-describedby="settings-error">
      <section class="card">
        <h2>DHCP</h2>
        <Radios
          legend="DHCP mode"
          name="dhcp-mode"
          value={s.dhcp.mode}
          options={[
            ['full', 'Full: imgsrv hands out addresses'],
            ['proxy', 'Proxy: the network has its own DHCP server, imgsrv adds boot information'],
            ['off', 'Off'],
          ]}
          onChange={(mode) => setS({ ...s, dhcp: { ...s.dhcp, mode } })}
        />
        <div class="field">
          <label for="dhcp-range">Address range (full DHCP)</label>
          <input
            id="dhcp-range"
            value={s.dhcp.range ?? ''}
            placeholder="198.18.0.100-198.18.0.200"
            onInput={(e) => setS({ ...s, dhcp: { ...s.dhcp, range: e.currentTarget.value } })}
            spellcheck={false}
          />
        </div>
        <Reservations rows={s.dhcp.reservations} onChange={(reservations) => setS({ ...s, dhcp: { ...s.dhcp, reservations } })} />
      </section>
      <section class="card">
        <h2>Boot</h2>
        <Radios
          legend="How kernel and initrd travel"
          name="boot-mode"
          value={s.boot.mode}
          options={[
            ['http', 'HTTP (iPXE): fast'],
            ['tftp', 'TFTP only: for networks that block HTTP to the nodes'],
          ]}
          onChange={(mode) => setS({ ...s, boot: { mode } })}
        />
      </section>
      <section class="card">
        <h2>New nodes</h2>
        <div class="field">
          <label for="hostname-pattern">Hostname pattern</label>
          <input
            id="hostname-pattern"
            required
            value={s.nodes.hostnamePattern}
            onInput={(e) => setS({ ...s, nodes: { ...s.nodes, hostnamePattern: e.currentTarget.value } })}
            spellcheck={false}
            aria-describedby="hostname-pattern-hint"
          />
          <small id="hostname-pattern-hint" class="muted">
            {'{n}'} = the node's sequence number, {'{mac}'} = its MAC without colons
          </small>
        </div>
        <div class="field">
          <label for="default-group">Default group</label>
          <select id="default-group" value={s.nodes.defaultGroup ?? ''} onChange={(e) => setS({ ...s, nodes: { ...s.nodes, defaultGroup: e.currentTarget.value || null } })}>
            <option value="">(none)</option>
            {(groups.data ?? []).map((g) => (
              <option key={g.name} value={g.name}>
                {g.name}
              </option>
            ))}
            {s.nodes.defaultGroup && !(groups.data ?? []).some((g) => g.name === s.nodes.defaultGroup) && (
              <option value={s.nodes.defaultGroup}>{s.nodes.defaultGroup}</option>
            )}
          </select>
        </div>
      </section>
      <div class="actions sticky-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Save settings
        </button>
        <ErrorText id="settings-error" error={action.error} />
        <StatusText text={status} />
      </div>
    </form>
  );
}
