// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Time and money arithmetic of a compute rental
/// @notice A rental of `numHours` pays `amount` linearly over numHours × 3600 seconds from the
/// moment the provider acknowledged it.
library RentalMath {
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    /// @notice Length of a rental of `numHours` in seconds.
    function duration(uint32 numHours) internal pure returns (uint256) {
        // numHours < 2^32, so the product is below 2^44.
        unchecked {
            return uint256(numHours) * SECONDS_PER_HOUR;
        }
    }

    /// @notice Unix time at which a rental started at `startedAt` has been fully served.
    function endsAt(uint256 startedAt, uint32 numHours) internal pure returns (uint256) {
        // startedAt is a uint40 timestamp and the duration is below 2^44: the sum is below 2^45.
        unchecked {
            return startedAt + duration(numHours);
        }
    }

    /// @notice Part of `amount` earned between `startedAt` and `until`:
    /// amount × min(until - startedAt, duration) / duration, rounded down (the renter keeps the dust).
    /// @dev `until` is never before `startedAt` (both are block timestamps, `until` the later one).
    function earnedAt(uint256 amount, uint256 startedAt, uint256 until, uint32 numHours)
        internal
        pure
        returns (uint256)
    {
        uint256 total = duration(numHours);
        uint256 elapsed = until - startedAt;
        if (elapsed >= total) return amount;
        // amount < 2^128 (uint96 price × uint32 hours) and elapsed < total < 2^44: the product
        // is below 2^172; total > 0 because numHours >= 1 for every rental.
        unchecked {
            return (amount * elapsed) / total;
        }
    }
}
