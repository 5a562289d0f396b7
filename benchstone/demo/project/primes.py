"""The demo project's code under test: count the primes below a limit."""


def count_primes(limit: int) -> int:
    count = 0
    for number in range(2, limit):
        divisor = 2
        while divisor * divisor <= number:
            if number % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count
