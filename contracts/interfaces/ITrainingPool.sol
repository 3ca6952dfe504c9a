// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Federated-learning reward pool paid in $DUCK
/// @notice A requester escrows a reward pool for a model. Contributors submit updates with the job
/// evaluator's EIP-712 attestation (the receipt that an update was accepted) and get the optional
/// flat part, `flatPerUpdate`. After each round the evaluator decides the rewards from each update's
/// marginal contribution and signs a `RoundCommitment`: the Merkle root of (jobId, round,
/// leaf index, contributor, amount) leaves and their total. Anyone may send the commitment; it reserves the
/// total, and each contributor claims its own amount with a Merkle proof. Committed money is never
/// refunded; the rest of the pool returns to the requester when the job finishes.
/// @dev EIP-712 domain { name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract }.
/// Types:
/// `Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)`,
/// `RoundCommitment(uint256 jobId,uint32 round,bytes32 rewardsRoot,bytes32 updatesRoot,bytes32 modelHash,uint256 total)`
/// `JobFinished(uint256 jobId)` and `JobAborted(uint256 jobId,uint32 rounds)`.
/// Reward leaves are OpenZeppelin StandardMerkleTree leaves of the types
/// (uint256 jobId, uint32 round, uint32 index, address contributor, uint256 amount):
/// `keccak256(bytes.concat(keccak256(abi.encode(jobId, round, index, contributor, amount))))`;
/// in TypeScript `StandardMerkleTree.of(values, ["uint256", "uint32", "uint32", "address", "uint256"])`.
/// `index` numbers a round's leaves 0, 1, 2, ...: a claim is marked by its leaf's index in a bitmap of
/// the round (the first 64 in the word that also holds the round's total), so a first-time claimant
/// writes no fresh storage slot of its own.
interface ITrainingPool {
    /// @notice What a requester chooses when creating a job.
    /// @param modelHash sha256 of the initial model (safetensors bytes).
    /// @param totalRewardPool Escrow in DUCK wei, 1 to 2^128 - 1.
    /// @param roundBudget Most one round may commit, 1 to min(totalRewardPool, 2^96 - 1).
    /// @param maxPerContributor Most one contributor may claim for one round, 1 to roundBudget.
    /// @param flatPerUpdate Paid at once for each accepted update, 0 to roundBudget (0 = none).
    /// @param rounds Number of rounds, at least 1; valid rounds are 0 to rounds - 1.
    /// @param accuracyThresholdBps Least attested accuracy of an update, 0 to 10000 basis points.
    /// @param evaluator Signer of attestations, round commitments and the end of the job.
    /// @param deadline Unix time, later than now: updates are accepted until then, and after it the
    /// requester may reclaim the uncommitted rest. Stored in 40 bits: a later value (past the year
    /// 36812) is kept as 2^40 - 1.
    /// @param claimWindow Seconds, at most 30 days, that contributors have after the last round
    /// commitment before anyone may finish the job with the evaluator's signature.
    struct JobTerms {
        bytes32 modelHash;
        uint256 totalRewardPool;
        uint256 roundBudget;
        uint256 maxPerContributor;
        uint256 flatPerUpdate;
        uint32 rounds;
        uint16 accuracyThresholdBps;
        address evaluator;
        uint64 deadline;
        uint64 claimWindow;
    }

    /// @notice A training job as returned by {getJob}.
    /// @param requester Address that escrowed the pool and receives the refund.
    /// @param evaluator Address whose EIP-712 signatures attest updates, commit rounds and end the job.
    /// @param modelHash sha256 of the initial model (safetensors bytes).
    /// @param totalRewardPool Amount escrowed at creation.
    /// @param roundBudget Most one round may commit.
    /// @param maxPerContributor Most one contributor may claim for one round.
    /// @param flatPerUpdate Paid at once for each accepted update.
    /// @param remaining Escrow not yet paid out or refunded (includes `outstanding`).
    /// @param outstanding Committed to rounds and not yet claimed; never refunded.
    /// @param rounds Number of rounds; valid rounds are 0 to rounds - 1.
    /// @param committedRounds Number of rounds committed so far.
    /// @param accuracyThresholdBps Least attested accuracy, in basis points (10000 = 100 %).
    /// @param deadline Unix time after which no update is accepted and the requester may reclaim.
    /// @param claimWindow Seconds after the last commitment before the job can be finished by anyone.
    /// @param lastCommitAt Block timestamp of the latest round commitment (0 = none yet).
    /// @param finished True once the job finished and the uncommitted rest was refunded.
    struct Job {
        address requester;
        address evaluator;
        bytes32 modelHash;
        uint256 totalRewardPool;
        uint256 roundBudget;
        uint256 maxPerContributor;
        uint256 flatPerUpdate;
        uint256 remaining;
        uint256 outstanding;
        uint32 rounds;
        uint32 committedRounds;
        uint16 accuracyThresholdBps;
        uint64 deadline;
        uint64 claimWindow;
        uint64 lastCommitAt;
        bool finished;
    }

    /// @notice Emitted when a requester created a job and escrowed `terms.totalRewardPool`.
    event TrainingJobCreated(
        uint256 indexed jobId, address indexed requester, bytes32 indexed modelHash, JobTerms terms
    );

    /// @notice Emitted when an attested update was accepted.
    event UpdateSubmitted(
        uint256 indexed jobId,
        uint32 indexed round,
        address indexed contributor,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples
    );

    /// @notice Emitted when the flat part `amount` (> 0) was paid for an accepted update.
    event RewardDistributed(uint256 indexed jobId, address indexed contributor, uint256 amount);

    /// @notice Emitted when the evaluator's rewards for `round` were committed and `total` reserved.
    /// @param rewardsRoot Merkle root of the (jobId, round, index, contributor, amount) reward leaves.
    /// @param updatesRoot The evaluator's root of the round's accepted updates (recorded, not checked).
    /// @param modelHash sha256 of the model the round produced (recorded, not checked).
    event RoundCommitted(
        uint256 indexed jobId,
        uint32 indexed round,
        bytes32 rewardsRoot,
        bytes32 updatesRoot,
        bytes32 modelHash,
        uint256 total
    );

    /// @notice Emitted when a contributor claimed its committed reward for a round.
    event RewardClaimed(uint256 indexed jobId, uint32 indexed round, address indexed contributor, uint256 amount);

    /// @notice Emitted when a job finished and `refund` (the uncommitted rest) went back to the requester.
    event TrainingJobFinished(uint256 indexed jobId, uint256 refund);

    /// @notice Emitted when the requester aborted a job: it ends after `rounds` rounds; `refund` went
    /// back to the requester at once and `reserved` stays for the rounds not committed yet (it comes
    /// back, less what they commit, when the job finishes).
    event TrainingJobAborted(uint256 indexed jobId, uint32 rounds, uint256 refund, uint256 reserved);

    /// @notice No job has this id.
    error UnknownJob(uint256 jobId);
    /// @notice The pool is zero or above 2^128 - 1.
    error InvalidRewardPool(uint256 totalRewardPool);
    /// @notice The round budget is zero, above the pool or above 2^96 - 1.
    error InvalidRoundBudget(uint256 roundBudget, uint256 totalRewardPool);
    /// @notice The per-contributor maximum is zero or above the round budget.
    error InvalidMaxPerContributor(uint256 maxPerContributor, uint256 roundBudget);
    /// @notice The flat part per update is above the round budget.
    error InvalidFlatPerUpdate(uint256 flatPerUpdate, uint256 roundBudget);
    /// @notice `rounds` must be at least 1.
    error InvalidRounds(uint32 rounds);
    /// @notice The threshold is above 10000 basis points.
    error InvalidThreshold(uint16 accuracyThresholdBps);
    /// @notice The evaluator must not be the zero address.
    error InvalidEvaluator(address evaluator);
    /// @notice The deadline must be later than the current block time `nowTs`.
    error InvalidDeadline(uint64 deadline, uint64 nowTs);
    /// @notice The claim window is above `maxClaimWindow` (30 days).
    error InvalidClaimWindow(uint64 claimWindow, uint64 maxClaimWindow);
    /// @notice The requester's balance or allowance (`available`, the smaller one) is below `needed`.
    error InsufficientFunds(address payer, uint256 needed, uint256 available);
    /// @notice The job already finished; no update or commitment is accepted and nothing more is refunded.
    error JobAlreadyFinished(uint256 jobId);
    /// @notice The deadline passed; updates are no longer accepted.
    error DeadlinePassed(uint256 jobId, uint64 deadline);
    /// @notice `round` is not below the job's `rounds`.
    error RoundOutOfRange(uint256 jobId, uint32 round, uint32 rounds);
    /// @notice The attested accuracy is below the job's threshold.
    error BelowThreshold(uint256 jobId, uint16 accuracyBps, uint16 thresholdBps);
    /// @notice This contributor already submitted an update for this round.
    error AlreadySubmitted(uint256 jobId, uint32 round, address contributor);
    /// @notice The attestation was not signed by the job's evaluator; `signer` is who signed it (0 if unreadable).
    error InvalidAttestation(uint256 jobId, uint32 round, address contributor, address signer);
    /// @notice The job pays a flat part per update, but nothing of the pool is free (all of it is
    /// paid out or committed).
    error PoolExhausted(uint256 jobId);
    /// @notice This round was already committed; a round is committed once.
    error RoundAlreadyCommitted(uint256 jobId, uint32 round);
    /// @notice A commitment needs a non-zero rewards root.
    error ZeroRewardsRoot(uint256 jobId, uint32 round);
    /// @notice `total` is above `limit`: the smaller of the round budget and the free pool.
    error CommitmentTooLarge(uint256 jobId, uint32 round, uint256 total, uint256 limit);
    /// @notice The `RoundCommitment` was not signed by the job's evaluator; `signer` is who signed it (0 if unreadable).
    error InvalidCommitmentSignature(uint256 jobId, uint32 round, address signer);
    /// @notice No commitment exists for this round (or this job).
    error RoundNotCommitted(uint256 jobId, uint32 round);
    /// @notice The leaf `index` of this round was already claimed.
    error AlreadyClaimed(uint256 jobId, uint32 round, uint32 index);
    /// @notice The proof does not show the leaf (jobId, round, index, contributor, amount) under the round's root.
    error InvalidProof(uint256 jobId, uint32 round, address contributor, uint256 amount);
    /// @notice `amount` is above the job's `maxPerContributor`.
    error ClaimAboveMaximum(uint256 jobId, uint256 amount, uint256 maxPerContributor);
    /// @notice `amount` is above what is left of the round's committed total (`available`).
    error ClaimExceedsCommitment(uint256 jobId, uint32 round, uint256 amount, uint256 available);
    /// @notice Only the requester may abort, or finish without the evaluator's signature (after the deadline).
    error NotRequester(uint256 jobId, address caller);
    /// @notice Finishing without the evaluator's signature must wait until after `deadline`.
    error JobStillRunning(uint256 jobId, uint64 deadline);
    /// @notice The `JobFinished` signature was not signed by the job's evaluator; `signer` is who signed it.
    error InvalidFinishSignature(uint256 jobId, address signer);
    /// @notice Finishing with the evaluator's signature needs every round committed (or the
    /// requester, once nothing committed is left unclaimed).
    error RoundsNotCommitted(uint256 jobId, uint32 committedRounds, uint32 rounds);
    /// @notice The claim window after the last commitment is open until `closesAt`; finishing must wait
    /// (or be done by the requester once nothing committed is left unclaimed).
    error ClaimWindowOpen(uint256 jobId, uint64 closesAt);

    /// @notice An abort must keep every committed round and cannot add rounds:
    /// `committedRounds <= rounds <= job rounds`.
    error InvalidAbortRounds(uint256 jobId, uint32 rounds, uint32 committedRounds, uint32 jobRounds);
    /// @notice The `JobAborted` statement was not signed by the job's evaluator; `signer` is who signed it.
    error InvalidAbortSignature(uint256 jobId, address signer);

    /// @notice Creates a job and pulls `terms.totalRewardPool` into escrow (approve first).
    /// @dev Checked in this order: pool, round budget, per-contributor maximum, flat part, rounds,
    /// threshold, evaluator, deadline, claim window, the requester's balance and allowance.
    /// @return jobId Id of the new job, starting at 1.
    function createTrainingJob(JobTerms calldata terms) external returns (uint256 jobId);

    /// @notice Submits an update attested by the evaluator: the receipt that it was accepted. Pays
    /// the caller min(flatPerUpdate, free pool), where free = remaining - outstanding; no payment
    /// when that is 0. Reverts {PoolExhausted} only when the job pays a flat part and nothing is free.
    /// @dev The attestation's contributor is `msg.sender`; one submission per (job, round, contributor).
    /// Checked in this order: job known, not finished, `now <= deadline`, `round < rounds`,
    /// `accuracyBps >= threshold`, first submission, free pool (flat part only), signature.
    /// @param jobId Job the update belongs to.
    /// @param round Round of the update, below the job's rounds.
    /// @param updateHash sha256 of the update (safetensors bytes).
    /// @param accuracyBps Accuracy the evaluator measured, in basis points.
    /// @param numSamples Number of local samples the update was trained on.
    /// @param evaluatorSignature 65-byte EIP-712 signature of the Attestation by the job's evaluator.
    function submitUpdate(
        uint256 jobId,
        uint32 round,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata evaluatorSignature
    ) external;

    /// @notice Records the evaluator's rewards for one round and reserves their `total` from the pool.
    /// @dev Anyone may send it. Once per (job, round); `round < rounds`; the job not finished;
    /// `rewardsRoot != 0`; `total <= min(roundBudget, remaining - outstanding)`; the signature is the
    /// evaluator's EIP-712 `RoundCommitment`. Checked in this order: job known, not finished, round
    /// in range, not yet committed, root, signature, total.
    /// @param rewardsRoot StandardMerkleTree root of (uint256 jobId, uint32 round, uint32 index,
    /// address contributor, uint256 amount) leaves, indexes 0 to n - 1. A round that pays nothing is committed with total 0 and any non-zero root.
    /// @param updatesRoot The evaluator's root of the round's accepted updates; recorded in the event only.
    /// @param modelHash sha256 of the model the round produced; recorded in the event only.
    /// @param total Sum of the leaves' amounts, reserved until claimed.
    /// @param leaves How many leaves the rewards tree has: a gas hint, neither signed nor trusted.
    /// The claim marks of leaves 64 to `leaves - 1` are prepared now, so that the first claim in each
    /// bitmap word writes no fresh slot; the sender pays for that (22.1k a word of 255 leaves). A
    /// wrong count moves gas between the sender and the claimants, never money.
    /// @param evaluatorSignature 65-byte EIP-712 signature of the RoundCommitment by the job's evaluator.
    function commitRound(
        uint256 jobId,
        uint32 round,
        bytes32 rewardsRoot,
        bytes32 updatesRoot,
        bytes32 modelHash,
        uint256 total,
        uint32 leaves,
        bytes calldata evaluatorSignature
    ) external;

    /// @notice Pays the caller its committed reward for `round`.
    /// @dev The leaf is OpenZeppelin StandardMerkleTree's of the types (uint256, uint32, uint32,
    /// address, uint256):
    /// `keccak256(bytes.concat(keccak256(abi.encode(jobId, round, index, msg.sender, amount))))`,
    /// verified against the round's rewards root. Once per (job, round, leaf);
    /// `amount <= maxPerContributor`; the round's claims never exceed its committed total. Works
    /// after the job finished: committed money is never refunded. Checked in this order: round
    /// committed, leaf not yet claimed, proof, maximum, committed total.
    /// @param index The caller's leaf's index in the round's list of leaves.
    /// @param amount The amount in the caller's leaf.
    /// @param proof The leaf's Merkle proof (`tree.getProof(i)`).
    function claim(uint256 jobId, uint32 round, uint32 index, uint256 amount, bytes32[] calldata proof) external;

    /// @notice Finishes a job and refunds `remaining - outstanding` to the requester; committed,
    /// unclaimed amounts stay claimable forever.
    /// @dev Allowed for:
    /// (a) anyone with the evaluator's `JobFinished(jobId)` signature, once every round is committed
    ///     and `block.timestamp >= lastCommitAt + claimWindow` ({finishableAt});
    /// (b) the requester with that signature once `outstanding == 0` (everything committed was claimed);
    /// (c) the requester with an empty signature once `block.timestamp > deadline`.
    /// With a signature: {InvalidFinishSignature}, then for anyone but case (b) {RoundsNotCommitted}
    /// and {ClaimWindowOpen}. Without: {NotRequester}, {JobStillRunning}.
    function finishJob(uint256 jobId, bytes calldata evaluatorSignature) external;

    /// @notice The requester stops a job early: it ends after `rounds` rounds (the round in progress
    /// at most), everything committed stays claimable, and the free pool comes back at once but for
    /// a round budget per round not yet committed (all of the free pool while the job pays a flat
    /// part). When every kept round is committed the job finishes here.
    /// @dev Requester only; `evaluatorSignature` is the evaluator's EIP-712 `JobAborted(jobId, rounds)`:
    /// the evaluator signs it once it closes no round from `rounds` on, so no round it closed is cut.
    /// Checked in this order: job known, not finished, requester, rounds, signature. A repeated call
    /// with the same statement refunds what became free since (the reserve is recomputed).
    /// Emits {TrainingJobAborted} (and {TrainingJobFinished} with refund 0 when nothing is pending).
    function abortJob(uint256 jobId, uint32 rounds, bytes calldata evaluatorSignature) external;

    /// @notice True when `signature` is the job evaluator's attestation of these values.
    /// @dev Checks only the signature; returns false for an unknown job.
    function verifyProof(
        uint256 jobId,
        uint32 round,
        address contributor,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata signature
    ) external view returns (bool);

    /// @notice The job `jobId`; reverts with {UnknownJob} for an unused id.
    function getJob(uint256 jobId) external view returns (Job memory);

    /// @notice The commitment of `round` of `jobId`: its rewards root (0 while uncommitted), its
    /// committed total and how much of it was claimed. Reverts with {UnknownJob} for an unused id.
    function getRoundCommitment(uint256 jobId, uint32 round)
        external
        view
        returns (bytes32 rewardsRoot, uint256 total, uint256 claimed);

    /// @notice True when `round` of `jobId` was committed.
    function isRoundCommitted(uint256 jobId, uint32 round) external view returns (bool);

    /// @notice Earliest block time at which anyone may finish the job with the evaluator's signature:
    /// lastCommitAt + claimWindow once every round is committed, type(uint64).max before.
    /// Reverts with {UnknownJob} for an unused id.
    function finishableAt(uint256 jobId) external view returns (uint64);

    /// @notice Number of jobs ever created (the highest job id).
    function jobCount() external view returns (uint256);

    /// @notice True when `contributor` submitted an update for `round` of `jobId`.
    function hasSubmitted(uint256 jobId, uint32 round, address contributor) external view returns (bool);

    /// @notice True when leaf `index` of `round` of `jobId` was claimed.
    function isClaimed(uint256 jobId, uint32 round, uint32 index) external view returns (bool);

    /// @notice The EIP-712 domain separator of this contract.
    function domainSeparator() external view returns (bytes32);

    /// @notice The $DUCK token used for payment.
    function duck() external view returns (address);
}
