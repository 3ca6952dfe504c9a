/**
 * Confinement of SFTP paths to a rental's folder. Every path a renter names is resolved against
 * the folder: relative paths from it, absolute ones as they are; the result must lie inside the
 * folder once `..` is applied and once every symbolic link on the way is followed. A symlink
 * whose target is missing is refused too: opening it with O_CREAT would create its target.
 */
import { lstat, realpath } from "node:fs/promises";
import { posix } from "node:path";

export class PathRefused extends Error {
  constructor(readonly requested: string, why: string) {
    super(`quackmesh gateway: '${requested.slice(0, 200)}' ${why}`);
  }
}

/** True when `path` is `root` or below it (both normalized, absolute). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : root + "/");
}

/**
 * The real absolute path `requested` names inside `root` (which must itself be a real path,
 * e.g. from fs.realpath). Throws PathRefused when it leads out.
 */
export async function confine(root: string, requested: string): Promise<string> {
  if (typeof requested !== "string" || requested.includes("\0")) throw new PathRefused(String(requested), "is not a valid path");
  const wanted = requested.startsWith("/") ? posix.normalize(requested) : posix.join(root, requested === "" ? "." : requested);
  if (!isInside(root, wanted)) throw new PathRefused(requested, "is outside the rental's folder; files live in the rental's folder only");
  // The deepest part of the path that exists, and the names below it that do not (yet).
  let probe = wanted;
  const missing: string[] = [];
  for (;;) {
    try {
      await lstat(probe);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || probe === root) throw err;
      missing.unshift(posix.basename(probe));
      probe = posix.dirname(probe);
    }
  }
  let real: string;
  try {
    real = await realpath(probe);
  } catch {
    throw new PathRefused(requested, "is a symbolic link to nothing; links are not followed out of the rental's folder");
  }
  if (!isInside(root, real)) throw new PathRefused(requested, "is a symbolic link that leads out of the rental's folder");
  return missing.length ? posix.join(real, ...missing) : real;
}
