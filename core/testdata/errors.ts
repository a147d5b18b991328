/** Test helper shared by unit tests: the ImgsrvError a call throws. */
import { ImgsrvError } from '../errors.ts';

/** Run `fn` and return the ImgsrvError it throws; any other error is rethrown, no throw fails the test. */
export function errorOf(fn: () => unknown): ImgsrvError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ImgsrvError) return err;
    throw err;
  }
  throw new Error('expected an ImgsrvError');
}
