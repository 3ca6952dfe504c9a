/** A small client-side router: history paths, a hook for the current one, and links. */
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";

export type Route =
  | { page: "overview" }
  | { page: "job"; jobId: number }
  | { page: "market" }
  | { page: "transactions"; address?: string; kind?: string }
  | { page: "address"; address: string }
  | { page: "missing"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  if (pathname === "/" || pathname === "") return { page: "overview" };
  let m = /^\/job\/(\d{1,9})$/.exec(pathname);
  if (m) return { page: "job", jobId: Number(m[1]) };
  if (pathname === "/market") return { page: "market" };
  if (pathname === "/transactions") return { page: "transactions", address: q.get("address") ?? undefined, kind: q.get("kind") ?? undefined };
  m = /^\/address\/(0x[0-9a-fA-F]{40})$/.exec(pathname);
  if (m) return { page: "address", address: m[1] };
  return { page: "missing", path: pathname };
}

export function navigate(href: string): void {
  if (href === location.pathname + location.search) return;
  history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
  window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const read = () => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState<Route>(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return route;
}

export function Link(props: { href: string; children: ReactNode; className?: string; title?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} onClick={onClick} className={props.className} title={props.title}>
      {props.children}
    </a>
  );
}
