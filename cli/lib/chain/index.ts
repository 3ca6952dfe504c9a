// The chain library in one import: networks, keys, deployments, contracts, transactions, the
// local Hardhat node and the shared command-line options.
export * from "../../../protocol/chain/networks.js";
export * from "./accounts.js";
export * from "../../../protocol/chain/deployments.js";
export * from "../../../protocol/chain/contracts.js";
export * from "../../../protocol/chain/revert.js";
export * from "./tx.js";
export * from "./deploy.js";
export * from "./localChain.js";
export * from "./options.js";
export * from "../../../protocol/chain/units.js";
export * from "./wallet.js";
export { packageRoot } from "../../../protocol/package.js";
