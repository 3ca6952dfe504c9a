// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Receives a callback whenever a {ReentrantToken} moves its tokens.
interface ITokenHook {
    function onTokenTransfer(address from, address to, uint256 value) external;
}

/// @title ReentrantToken (test only)
/// @notice An ERC-20 that, like ERC-777, calls out to a hooked account on every transfer from or to it,
/// so that the account can re-enter the contract that is moving the tokens.
contract ReentrantToken is ERC20 {
    address public hooked;

    constructor() ERC20("Reentrant Token", "RENT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHooked(address account) external {
        hooked = account;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address account = hooked;
        if (account != address(0) && (from == account || to == account)) {
            ITokenHook(account).onTokenTransfer(from, to, value);
        }
    }
}
