// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Federated-learning reward pool paid in $DUCK
/// @notice A requester escrows a reward pool for a model. Contributors submit updates together with
/// the job evaluator's EIP-712 attestation and are paid min(rewardPerUpdate, remaining pool), once per
/// (job, round, contributor). The unspent pool returns to the requester when the evaluator signs that
/// the job finished, or after the deadline.
/// @dev EIP-712 domain { name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract }.
/// Types: `Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)`
/// and `JobFinished(uint256 jobId)`.
interface ITrainingPool {
    /// @notice A training job as returned by {getJob}.
    /// @param requester Address that escrowed the pool and receives the refund.
    /// @param evaluator Address whose EIP-712 signatures attest updates and the end of the job.
    /// @param modelHash sha256 of the initial model (safetensors bytes).
    /// @param totalRewardPool Amount escrowed at creation.
    /// @param rewardPerUpdate Reward for one accepted update.
    /// @param remaining Escrow not yet paid out or refunded.
    /// @param rounds Number of rounds; valid rounds are 0 to rounds - 1.
    /// @param accuracyThresholdBps Least attested accuracy, in basis points (10000 = 100 %).
    /// @param deadline Unix time after which no update is accepted and the requester may reclaim.
    /// @param finished True once the job finished and the rest was refunded.
    struct Job {
        address requester;
        address evaluator;
        bytes32 modelHash;
        uint256 totalRewardPool;
        uint256 rewardPerUpdate;
        uint256 remaining;
        uint32 rounds;
        uint16 accuracyThresholdBps;
        uint64 deadline;
        bool finished;
    }

    /// @notice Emitted when a requester created a job and escrowed `totalRewardPool`.
    event TrainingJobCreated(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 indexed modelHash,
        address evaluator,
        uint256 totalRewardPool,
        uint256 rewardPerUpdate,
        uint32 rounds,
        uint16 accuracyThresholdBps,
        uint64 deadline
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

    /// @notice Emitted when `amount` was paid to a contributor for an accepted update.
    event RewardDistributed(uint256 indexed jobId, address indexed contributor, uint256 amount);

    /// @notice Emitted when a job finished and `refund` went back to the requester.
    event TrainingJobFinished(uint256 indexed jobId, uint256 refund);

    /// @notice No job has this id.
    error UnknownJob(uint256 jobId);
    /// @notice The pool is zero or above 2^128 - 1, or `rewardPerUpdate` is zero or above the pool.
    error InvalidRewards(uint256 totalRewardPool, uint256 rewardPerUpdate);
    /// @notice `rounds` must be at least 1.
    error InvalidRounds(uint32 rounds);
    /// @notice The threshold is above 10000 basis points.
    error InvalidThreshold(uint16 accuracyThresholdBps);
    /// @notice The evaluator must not be the zero address.
    error InvalidEvaluator(address evaluator);
    /// @notice The deadline must be later than the current block time `nowTs`.
    error InvalidDeadline(uint64 deadline, uint64 nowTs);
    /// @notice The requester's balance or allowance (`available`, the smaller one) is below `needed`.
    error InsufficientFunds(address payer, uint256 needed, uint256 available);
    /// @notice The job already finished; nothing more is accepted or refunded.
    error JobAlreadyFinished(uint256 jobId);
    /// @notice The deadline passed; updates are no longer accepted.
    error DeadlinePassed(uint256 jobId, uint64 deadline);
    /// @notice `round` is not below the job's `rounds`.
    error RoundOutOfRange(uint256 jobId, uint32 round, uint32 rounds);
    /// @notice The attested accuracy is below the job's threshold.
    error BelowThreshold(uint256 jobId, uint16 accuracyBps, uint16 thresholdBps);
    /// @notice This contributor was already paid for this round.
    error AlreadySubmitted(uint256 jobId, uint32 round, address contributor);
    /// @notice The attestation was not signed by the job's evaluator; `signer` is who signed it (0 if unreadable).
    error InvalidAttestation(uint256 jobId, uint32 round, address contributor, address signer);
    /// @notice The whole pool has been paid out.
    error PoolExhausted(uint256 jobId);
    /// @notice Finishing without the evaluator's signature: only the requester, only after the deadline.
    error NotRequester(uint256 jobId, address caller);
    /// @notice Finishing without the evaluator's signature must wait until after `deadline`.
    error JobStillRunning(uint256 jobId, uint64 deadline);
    /// @notice The `JobFinished` signature was not signed by the job's evaluator; `signer` is who signed it.
    error InvalidFinishSignature(uint256 jobId, address signer);

    /// @notice Creates a job and pulls `totalRewardPool` into escrow (approve first).
    /// @param modelHash sha256 of the initial model.
    /// @param totalRewardPool Escrow in DUCK wei, 1 to 2^128 - 1.
    /// @param rewardPerUpdate Reward for one accepted update, 1 to totalRewardPool.
    /// @param rounds Number of rounds, at least 1.
    /// @param accuracyThresholdBps Least accuracy an update must reach, 0 to 10000.
    /// @param evaluator Signer of attestations (the orchestrator's evaluator key).
    /// @param deadline Unix time, later than now, after which the requester may reclaim the rest.
    /// @return jobId Id of the new job, starting at 1.
    function createTrainingJob(
        bytes32 modelHash,
        uint256 totalRewardPool,
        uint256 rewardPerUpdate,
        uint32 rounds,
        uint16 accuracyThresholdBps,
        address evaluator,
        uint64 deadline
    ) external returns (uint256 jobId);

    /// @notice Submits an update attested by the evaluator and pays the caller min(rewardPerUpdate, remaining).
    /// @dev The attestation's contributor is `msg.sender`; one payment per (job, round, contributor).
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

    /// @notice Finishes a job and refunds the unspent pool to the requester.
    /// @dev Anyone holding the evaluator's EIP-712 signature of `JobFinished(jobId)` may call; the
    /// requester may call with an empty signature once `block.timestamp > deadline`.
    function finishJob(uint256 jobId, bytes calldata evaluatorSignature) external;

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

    /// @notice Number of jobs ever created (the highest job id).
    function jobCount() external view returns (uint256);

    /// @notice True when `contributor` was already paid for `round` of `jobId`.
    function hasSubmitted(uint256 jobId, uint32 round, address contributor) external view returns (bool);

    /// @notice The EIP-712 domain separator of this contract.
    function domainSeparator() external view returns (bytes32);

    /// @notice The $DUCK token used for payment.
    function duck() external view returns (address);
}
