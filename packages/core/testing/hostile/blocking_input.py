answer = input("? ")
print("got", repr(answer))
