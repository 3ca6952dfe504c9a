// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title What a payer can put into escrow
library Funds {
    /// @notice The most `token` that `payer` can move into the calling contract right now:
    /// the smaller of its balance and its allowance to this contract.
    /// @dev Read before pulling so that a shortfall reverts with the caller's own error, whatever the
    /// token's error format.
    function available(IERC20 token, address payer) internal view returns (uint256) {
        uint256 balance = token.balanceOf(payer);
        uint256 allowance = token.allowance(payer, address(this));
        return balance < allowance ? balance : allowance;
    }
}
