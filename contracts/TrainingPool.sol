// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ITrainingPool} from "./interfaces/ITrainingPool.sol";
import {Funds} from "./libraries/Funds.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title TrainingPool
/// @notice Escrowed reward pools for federated training jobs, paid per evaluator-attested update.
/// @dev Invariant: the contract's DUCK balance equals the sum of `remaining` over all jobs.
contract TrainingPool is ITrainingPool, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint16 private constant MAX_BPS = 10_000;

    /// @dev Storage form of {Job}. submitUpdate reads slots 0-2 and writes only slot 2.
    struct JobSlot {
        // slot 0
        address requester;
        uint64 deadline;
        uint32 rounds;
        // slot 1
        address evaluator;
        uint16 accuracyThresholdBps;
        bool finished;
        // slot 2
        uint128 rewardPerUpdate;
        uint128 remaining;
        // slots 3 and 4: read by views only
        bytes32 modelHash;
        uint256 totalRewardPool;
    }

    IERC20 private immutable _duck;
    uint256 private _jobCount;
    mapping(uint256 jobId => JobSlot) private _jobs;
    mapping(uint256 jobId => mapping(uint32 round => mapping(address contributor => bool))) private _submitted;

    /// @param duck_ The $DUCK token.
    constructor(IERC20 duck_) EIP712("QuackMesh TrainingPool", "1") {
        _duck = duck_;
    }

    /// @inheritdoc ITrainingPool
    function createTrainingJob(
        bytes32 modelHash,
        uint256 totalRewardPool,
        uint256 rewardPerUpdate,
        uint32 rounds,
        uint16 accuracyThresholdBps,
        address evaluator,
        uint64 deadline
    ) external nonReentrant returns (uint256 jobId) {
        if (
            totalRewardPool == 0 || totalRewardPool > type(uint128).max || rewardPerUpdate == 0
                || rewardPerUpdate > totalRewardPool
        ) revert InvalidRewards(totalRewardPool, rewardPerUpdate);
        if (rounds == 0) revert InvalidRounds(rounds);
        if (accuracyThresholdBps > MAX_BPS) revert InvalidThreshold(accuracyThresholdBps);
        if (evaluator == address(0)) revert InvalidEvaluator(evaluator);
        if (deadline <= block.timestamp) revert InvalidDeadline(deadline, uint64(block.timestamp));
        uint256 available = Funds.available(_duck, msg.sender);
        if (available < totalRewardPool) revert InsufficientFunds(msg.sender, totalRewardPool, available);

        jobId = ++_jobCount;
        _jobs[jobId] = JobSlot({
            requester: msg.sender,
            deadline: deadline,
            rounds: rounds,
            evaluator: evaluator,
            accuracyThresholdBps: accuracyThresholdBps,
            finished: false,
            rewardPerUpdate: uint128(rewardPerUpdate),
            remaining: uint128(totalRewardPool),
            modelHash: modelHash,
            totalRewardPool: totalRewardPool
        });
        emit TrainingJobCreated(
            jobId, msg.sender, modelHash, evaluator, totalRewardPool, rewardPerUpdate, rounds, accuracyThresholdBps, deadline
        );

        // Interaction last: the job exists before the token runs any code.
        _duck.safeTransferFrom(msg.sender, address(this), totalRewardPool);
    }

    /// @inheritdoc ITrainingPool
    function submitUpdate(
        uint256 jobId,
        uint32 round,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata evaluatorSignature
    ) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        uint256 remaining = _checkSubmission(job, jobId, round, accuracyBps);
        address signer = _attestationSigner(jobId, round, updateHash, accuracyBps, numSamples, evaluatorSignature);
        if (signer != job.evaluator) revert InvalidAttestation(jobId, round, msg.sender, signer);

        uint256 reward = job.rewardPerUpdate;
        if (reward > remaining) reward = remaining;
        // Effects before the payment: the submission is recorded and the pool reduced, so a
        // re-entrant call is refused as a duplicate and can never pay out more than `remaining`.
        _submitted[jobId][round][msg.sender] = true;
        // reward <= remaining by the line above.
        unchecked {
            job.remaining = uint128(remaining - reward);
        }
        emit UpdateSubmitted(jobId, round, msg.sender, updateHash, accuracyBps, numSamples);
        emit RewardDistributed(jobId, msg.sender, reward);

        _duck.safeTransfer(msg.sender, reward);
    }

    /// @inheritdoc ITrainingPool
    function finishJob(uint256 jobId, bytes calldata evaluatorSignature) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        if (job.finished) revert JobAlreadyFinished(jobId);
        if (evaluatorSignature.length == 0) {
            if (msg.sender != job.requester) revert NotRequester(jobId, msg.sender);
            if (block.timestamp <= job.deadline) revert JobStillRunning(jobId, job.deadline);
        } else {
            bytes32 digest = _hashTypedDataV4(Signatures.jobFinished(jobId));
            address signer = Signatures.signerOf(digest, evaluatorSignature);
            if (signer != job.evaluator) revert InvalidFinishSignature(jobId, signer);
        }

        uint256 refund = job.remaining;
        address requester = job.requester;
        job.finished = true;
        job.remaining = 0;
        emit TrainingJobFinished(jobId, refund);

        // Interaction last: the job is finished and empty before the token runs any code.
        if (refund != 0) _duck.safeTransfer(requester, refund);
    }

    /// @inheritdoc ITrainingPool
    function verifyProof(
        uint256 jobId,
        uint32 round,
        address contributor,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata signature
    ) external view returns (bool) {
        address evaluator = _jobs[jobId].evaluator;
        if (evaluator == address(0)) return false;
        bytes32 digest = _hashTypedDataV4(
            Signatures.attestation(jobId, round, contributor, updateHash, accuracyBps, numSamples)
        );
        return Signatures.signerOf(digest, signature) == evaluator;
    }

    /// @inheritdoc ITrainingPool
    function getJob(uint256 jobId) external view returns (Job memory) {
        JobSlot storage j = _jobOf(jobId);
        return Job({
            requester: j.requester,
            evaluator: j.evaluator,
            modelHash: j.modelHash,
            totalRewardPool: j.totalRewardPool,
            rewardPerUpdate: j.rewardPerUpdate,
            remaining: j.remaining,
            rounds: j.rounds,
            accuracyThresholdBps: j.accuracyThresholdBps,
            deadline: j.deadline,
            finished: j.finished
        });
    }

    /// @inheritdoc ITrainingPool
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc ITrainingPool
    function hasSubmitted(uint256 jobId, uint32 round, address contributor) external view returns (bool) {
        return _submitted[jobId][round][contributor];
    }

    /// @inheritdoc ITrainingPool
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc ITrainingPool
    function duck() external view returns (address) {
        return address(_duck);
    }

    /// @dev Every check of an update but its signature; returns the job's remaining pool.
    function _checkSubmission(JobSlot storage job, uint256 jobId, uint32 round, uint16 accuracyBps)
        private
        view
        returns (uint256 remaining)
    {
        if (job.finished) revert JobAlreadyFinished(jobId);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline);
        if (round >= job.rounds) revert RoundOutOfRange(jobId, round, job.rounds);
        if (accuracyBps < job.accuracyThresholdBps) revert BelowThreshold(jobId, accuracyBps, job.accuracyThresholdBps);
        if (_submitted[jobId][round][msg.sender]) revert AlreadySubmitted(jobId, round, msg.sender);
        remaining = job.remaining;
        if (remaining == 0) revert PoolExhausted(jobId);
    }

    /// @dev Signer of the Attestation of this update by `msg.sender` (address(0) when malformed).
    function _attestationSigner(
        uint256 jobId,
        uint32 round,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata signature
    ) private view returns (address) {
        bytes32 digest = _hashTypedDataV4(
            Signatures.attestation(jobId, round, msg.sender, updateHash, accuracyBps, numSamples)
        );
        return Signatures.signerOf(digest, signature);
    }

    function _jobOf(uint256 jobId) private view returns (JobSlot storage job) {
        job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
    }
}
