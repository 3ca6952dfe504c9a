/** The frame: navigation, the unreachable-API banner, and the page for the current path. */
import { useReachable } from "./api";
import { Empty } from "./components";
import { Address } from "./pages/Address";
import { Job } from "./pages/Job";
import { Market } from "./pages/Market";
import { Overview } from "./pages/Overview";
import { Transactions } from "./pages/Transactions";
import { Link, useRoute, type Route } from "./router";

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return <Overview />;
    case "job":
      return <Job key={route.jobId} jobId={route.jobId} />;
    case "market":
      return <Market />;
    case "transactions":
      return <Transactions address={route.address} kind={route.kind} />;
    case "address":
      return <Address key={route.address} address={route.address} />;
    case "missing":
      return (
        <Empty title={`No page at ${route.path}.`}>
          <Link href="/">Back to the overview.</Link>
        </Empty>
      );
  }
}

export function App() {
  const route = useRoute();
  const reachable = useReachable();
  const tab = (page: Route["page"], href: string, label: string) => (
    <Link href={href} className={route.page === page ? "tab current" : "tab"}>
      {label}
    </Link>
  );
  return (
    <>
      <header>
        <Link href="/" className="brand">
          <span className="logo" aria-hidden="true" />
          QuackMesh
        </Link>
        <nav>
          {tab("overview", "/", "Overview")}
          {tab("market", "/market", "Marketplace")}
          {tab("transactions", "/transactions", "Transactions")}
          <a className="tab" href="/docs">
            API
          </a>
        </nav>
      </header>
      {reachable ? null : (
        <div className="banner" role="alert" data-testid="unreachable">
          The orchestrator at {location.host} is not answering. What you see may be out of date; this page reconnects by itself.
        </div>
      )}
      <main>
        <Page route={route} />
      </main>
    </>
  );
}
