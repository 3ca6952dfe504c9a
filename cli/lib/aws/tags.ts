/** The tags that make AWS resources part of a stack: `down` and `status` find them by these. */
export const STACK_TAG = "quackmesh:stack";
export const ROLE_TAG = "quackmesh:role";
export const PORT_TAG = "quackmesh:port";

export function stackTags(stack: string, extra: Record<string, string> = {}): Record<string, string> {
  return { Name: `quackmesh-${stack}`, [STACK_TAG]: stack, ...extra };
}

/** Key and Value both set: the shape every AWS service's Tag accepts (EC2, RDS, SSM). */
export function toTagList(tags: Record<string, string>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
