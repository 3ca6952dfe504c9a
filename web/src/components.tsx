/** Small pieces every page uses: addresses, amounts, states, tables. */
import { useState, type ReactNode } from "react";
import type { ApiProblem } from "./api";
import { duck, shortAddress, shortHash } from "./format";
import { Link } from "./router";

/** Two overlapping sheets, drawn inline (no icon font or emoji font needed). */
function CopyIcon() {
  return (
    <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <rect x="5" y="5" width="9" height="9" rx="1.5" />
      <path d="M3 11V3.5A1.5 1.5 0 0 1 4.5 2H11" />
    </svg>
  );
}

/** Shortened address, full value on hover, a link to its page and a copy button. */
export function Addr({ value, link = true }: { value: string; link?: boolean }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(value).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1200);
    });
  };
  const text = <span className="mono">{shortAddress(value)}</span>;
  return (
    <span className="addr" title={value} data-address={value}>
      {link ? <Link href={`/address/${value}`}>{text}</Link> : text}
      <button type="button" className="copy" onClick={copy} aria-label={`copy ${value}`} title="copy">
        {copied ? "copied" : <CopyIcon />}
      </button>
    </span>
  );
}

export function Hash({ value }: { value: string | null | undefined }) {
  if (!value) return <span>—</span>;
  return (
    <span className="mono" title={value}>
      {shortHash(value)}
    </span>
  );
}

export function Duck({ wei }: { wei: string | null | undefined }) {
  return (
    <span className="duck" title={wei ? `${wei} wei` : undefined}>
      {duck(wei)}
    </span>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="state loading" role="status">
      Loading {what}…
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state empty" data-state="empty">
      <strong>{title}</strong>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

export function Problem({ error, what }: { error: ApiProblem; what: string }) {
  return (
    <div className="state problem" role="alert" data-state="error" data-code={error.code}>
      <strong>Could not load {what}.</strong> {error.message} <span className="mono">({error.code})</span>
    </div>
  );
}

/** A table that scrolls sideways on a narrow screen instead of squeezing. */
export function Table({ head, children, label }: { head: ReactNode[]; children: ReactNode; label: string }) {
  return (
    <div className="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            {head.map((h, i) => (
              <th key={i}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function Stat({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

export function Section({ title, children, right }: { title: string; children: ReactNode; right?: ReactNode }) {
  return (
    <section>
      <div className="section-head">
        <h2>{title}</h2>
        {right}
      </div>
      {children}
    </section>
  );
}
