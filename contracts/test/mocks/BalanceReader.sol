// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title BalanceReader (test only)
/// @notice Reads many token balances in one call, so that the invariant test checks every pool and
/// account after each call with a single round trip.
contract BalanceReader {
    function balancesOf(IERC20 token, address[] calldata accounts) external view returns (uint256[] memory balances) {
        balances = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) {
            balances[i] = token.balanceOf(accounts[i]);
        }
    }
}
