import Ember
print(Ember.defaultBackend.name)
