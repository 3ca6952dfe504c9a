// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ITokenHook} from "./ReentrantToken.sol";

/// @title ReentrantAttacker (test only)
/// @notice A contract account that acts as provider, renter, requester or contributor through
/// {execute}, and when its tokens move, re-enters `target` with prepared calldata. The re-entry's
/// outcome is recorded, not bubbled, so that the outer call completes and its effects can be checked.
contract ReentrantAttacker is ITokenHook {
    address public target;
    bytes public reentryData;
    bool public armed;
    uint256 public attempts;
    bool public lastSucceeded;
    bytes public lastReturn;

    /// @notice Calls `to` with `data` as this account; bubbles a revert.
    function execute(address to, bytes calldata data) external returns (bytes memory result) {
        bool ok;
        (ok, result) = to.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    /// @notice On the next token movement, call `to` with `data` once.
    function arm(address to, bytes calldata data) external {
        target = to;
        reentryData = data;
        armed = true;
    }

    function onTokenTransfer(address, address, uint256) external {
        if (!armed) return;
        armed = false;
        attempts += 1;
        (lastSucceeded, lastReturn) = target.call(reentryData);
    }
}
