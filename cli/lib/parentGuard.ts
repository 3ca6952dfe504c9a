/**
 * A module to preload (`node --import <PARENT_GUARD>`) into a child process so that it exits when
 * its end of the stdin pipe closes. The pipe closes when the parent dies, however it dies, so the
 * child never outlives it. The watch is unref'd: it must not keep alive a child that has finished.
 */
export const PARENT_GUARD =
  "data:text/javascript," +
  encodeURIComponent(
    'process.stdin.on("end",()=>process.exit(0));process.stdin.on("error",()=>process.exit(0));process.stdin.resume();process.stdin.unref?.();',
  );
