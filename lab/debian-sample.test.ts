import { describe, expect, it } from 'vitest';
import { mirrorIn } from './debian-sample.ts';

describe('the mirror debootstrap uses: the one apt is configured with', () => {
  it('reads deb822 stanzas, skipping -updates/-security suites, deb-src and stanzas without main', () => {
    const sources = [
      'Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n',
      'Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
      'Types: deb\nURIs: http://contrib.example/debian\nSuites: bookworm\nComponents: contrib\n',
      'Types: deb\n# a snapshot comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    ].join('\n');
    expect(mirrorIn([sources])).toBe('http://mirror.example/debian');
  });

  it('reads one-line sources.list entries, with options, and says nothing when no entry fits', () => {
    expect(mirrorIn(['deb-src http://a.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://b.example/debian bookworm main contrib\n'])).toBe('http://b.example/debian');
    expect(mirrorIn(['deb http://a.example/debian bookworm-updates main\n', 'deb https://packages.example/apt cloud-sdk-bookworm main\n'])).toBeUndefined();
  });
});
