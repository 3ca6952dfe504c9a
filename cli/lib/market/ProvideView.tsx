import { Box, Text } from "ink";
import type { ProvideState } from "./provideView.js";

/** Live view of `quackmesh provide` on a terminal (pure: renders the state it is given). */
export function ProvideView({ state }: { state: ProvideState }) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Machine {state.machineId ?? "…"}</Text> {state.machineId ? "listed" : "listing"} at {state.price} DUCK/h
        {state.maxHours ? `, at most ${state.maxHours} h` : ""} on {state.endpoint}
      </Text>
      <Text dimColor>{state.specs}</Text>
      <Box flexDirection="column" marginTop={1}>
        {state.rentals.length === 0 ? (
          <Text dimColor>No rentals yet.</Text>
        ) : (
          state.rentals.map((r) => (
            <Text key={r.rentalId}>
              rental {r.rentalId.padEnd(4)} {r.status.padEnd(13)} {String(r.hours).padStart(3)} h {r.amount.padStart(8)} DUCK renter {r.renter}
              {r.endsAt ? `  until ${new Date(r.endsAt * 1000).toISOString().slice(0, 16).replace("T", " ")} (chain time)` : ""}
            </Text>
          ))
        )}
      </Box>
      <Text>
        Earned (withdrawn): <Text color="green">{state.earned} DUCK</Text>
      </Text>
      {state.errors.map((e, i) => (
        <Text key={i} color="red">
          {e}
        </Text>
      ))}
      <Text dimColor>{state.stopping ? "Stopping: keys removed, machine unlisted…" : "Ctrl-C unlists the machine and removes renter keys."}</Text>
    </Box>
  );
}
