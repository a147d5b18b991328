/** `imgsrv admin password`: the password the web console signs in with. */
import type { Command } from 'commander';
import { ImgsrvError } from '../../../core/errors.ts';
import { apiFor } from '../client.ts';
import { promptHidden, readFirstLine } from '../prompt.ts';

/** The server's rule too (PUT /admin/password answers 400); checked here so a person is told before typing it twice. */
const MIN_LENGTH = 8;

function checkLength(pw: string): string {
  if (pw.length < MIN_LENGTH) throw new ImgsrvError('BAD_USAGE', `the password has ${pw.length} characters; it needs at least ${MIN_LENGTH}`, { hint: 'nothing was changed' });
  return pw;
}

/** Piped stdin gives the password (scripts); a terminal is asked twice without echo. */
async function newPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const pw = await readFirstLine();
    if (!pw) throw new ImgsrvError('BAD_USAGE', 'no password on stdin', { hint: 'pipe the new password as the first line, or run in a terminal to be asked' });
    return checkLength(pw);
  }
  const first = checkLength(await promptHidden('New console password: '));
  const again = await promptHidden('Repeat it: ');
  if (again !== first) throw new ImgsrvError('BAD_USAGE', 'the two passwords differ; nothing was changed', { hint: 'run the command again' });
  return first;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('the administrator account of the web console');

  admin
    .command('password')
    .description('set the web console password (read from stdin when piped, else asked twice without echo; at least 8 characters)')
    .action(async (_flags: unknown, cmd: Command) => {
      const password = await newPassword();
      await apiFor(cmd).request('PUT', '/api/v1/admin/password', { password });
      process.stdout.write('console password changed\n');
    });
}
