/**
 * The contract events the orchestrator reads, as declared in contracts/interfaces/*.sol. Kept
 * as human-readable fragments so the orchestrator needs only an RPC URL, not build artifacts.
 */
import { Interface } from "ethers";

export const TRAINING_POOL_EVENTS = new Interface([
  "event TrainingJobCreated(uint256 indexed jobId, address indexed requester, bytes32 indexed modelHash, address evaluator, uint256 totalRewardPool, uint256 rewardPerUpdate, uint32 rounds, uint16 accuracyThresholdBps, uint64 deadline)",
  "event UpdateSubmitted(uint256 indexed jobId, uint32 indexed round, address indexed contributor, bytes32 updateHash, uint16 accuracyBps, uint64 numSamples)",
  "event RewardDistributed(uint256 indexed jobId, address indexed contributor, uint256 amount)",
  "event TrainingJobFinished(uint256 indexed jobId, uint256 refund)",
]);

export const MARKETPLACE_EVENTS = new Interface([
  "event MachineListed(uint256 indexed machineId, address indexed provider, uint256 pricePerHour, uint32 maxHours, string specs, string endpoint)",
  "event MachineUnlisted(uint256 indexed machineId)",
  "event MachineRented(uint256 indexed rentalId, uint256 indexed machineId, address indexed renter, uint256 jobId, uint32 hours, uint256 amount, string sshPublicKey)",
  "event RentalAcknowledged(uint256 indexed rentalId, uint64 startedAt)",
  "event RentalCancelled(uint256 indexed rentalId, uint256 refund)",
  "event RentalEnded(uint256 indexed rentalId, uint256 refund, uint256 earned)",
]);
