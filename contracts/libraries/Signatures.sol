// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title EIP-712 struct hashes of QuackMesh attestations and commitments, and a non-reverting signer lookup
library Signatures {
    bytes32 internal constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)"
    );
    bytes32 internal constant ROUND_COMMITMENT_TYPEHASH = keccak256(
        "RoundCommitment(uint256 jobId,uint32 round,bytes32 rewardsRoot,bytes32 updatesRoot,bytes32 modelHash,uint256 total)"
    );
    bytes32 internal constant JOB_FINISHED_TYPEHASH = keccak256("JobFinished(uint256 jobId)");
    bytes32 internal constant JOB_ABORTED_TYPEHASH = keccak256("JobAborted(uint256 jobId,uint32 rounds)");
    bytes32 internal constant DOWNTIME_TYPEHASH = keccak256("Downtime(uint256 rentalId,uint64 downtimeSeconds)");
    bytes32 internal constant USAGE_TYPEHASH = keccak256("Usage(uint256 jobId,address[] providers,uint256[] amounts)");

    /// @notice hashStruct of an evaluator's Attestation of one update.
    function attestation(
        uint256 jobId,
        uint32 round,
        address contributor,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(ATTESTATION_TYPEHASH, jobId, round, contributor, updateHash, accuracyBps, numSamples)
        );
    }

    /// @notice hashStruct of an evaluator's RoundCommitment: the rewards of one round of a job.
    function roundCommitment(
        uint256 jobId,
        uint32 round,
        bytes32 rewardsRoot,
        bytes32 updatesRoot,
        bytes32 modelHash,
        uint256 total
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(ROUND_COMMITMENT_TYPEHASH, jobId, round, rewardsRoot, updatesRoot, modelHash, total)
        );
    }

    /// @notice hashStruct of an evaluator's statement that job `jobId` finished.
    function jobFinished(uint256 jobId) internal pure returns (bytes32) {
        return keccak256(abi.encode(JOB_FINISHED_TYPEHASH, jobId));
    }

    /// @notice hashStruct of an evaluator's statement that job `jobId`, aborted by its requester,
    /// ends after `rounds` rounds (the evaluator closes no round from `rounds` on).
    function jobAborted(uint256 jobId, uint32 rounds) internal pure returns (bytes32) {
        return keccak256(abi.encode(JOB_ABORTED_TYPEHASH, jobId, rounds));
    }

    /// @notice hashStruct of an arbiter's statement that rental `rentalId` was down `downtimeSeconds`.
    function downtime(uint256 rentalId, uint64 downtimeSeconds) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOWNTIME_TYPEHASH, rentalId, downtimeSeconds));
    }

    /// @notice hashStruct of an orchestrator's Usage: arrays are hashed as the concatenation of
    /// their 32-byte encoded elements, as EIP-712 prescribes (abi.encodePacked pads array elements).
    function usage(uint256 jobId, address[] calldata providers, uint256[] calldata amounts)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                USAGE_TYPEHASH, jobId, keccak256(abi.encodePacked(providers)), keccak256(abi.encodePacked(amounts))
            )
        );
    }

    /// @notice Address that signed `digest`, or address(0) when the signature is malformed
    /// (wrong length, high s, bad v). Callers compare against a non-zero expected signer.
    function signerOf(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        return err == ECDSA.RecoverError.NoError ? recovered : address(0);
    }
}
